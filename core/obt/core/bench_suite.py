"""The built-in benchmark prompt suite: three fixed prompts, committed so every node and every
version of OBT measures the same thing. Their hash is part of each result's fingerprint
(obt.core.bench.suite_hash): editing a text here makes earlier results incomparable, on purpose.

- chat: a short question (prompt processing is tiny; generation dominates);
- summarise: about 1,000 tokens of text to summarise (prompt processing dominates);
- code: a small programming task (typical of coding assistants).
The summarise text was written for OBT; it is plain prose about an invented harbour town.
"""

from __future__ import annotations

from obt.core.models.benchmark import BenchmarkPrompt

_CHAT = (
    "In three sentences, explain to a new colleague why a computer with more memory "
    "bandwidth usually generates text from a large language model faster."
)

_HARBOUR = """\
The harbour town of Veldmarsh grew up around a problem rather than an advantage. Its bay was
shallow, its river carried silt down from the moors every spring, and for most of its early
history the only boats that could reach the quay were flat-bottomed barges poled in at high
tide. Fishing families lived along the southern shore in houses raised on timber piles, and the
market square sat a full kilometre inland, on the first patch of ground that never flooded.

For two centuries the town argued about dredging. Merchants wanted a deep channel so that
coastal traders could unload grain and timber directly; the fishing families feared that
deeper water would change the currents and drive away the flatfish that fed on the mud banks.
The town council met every winter, heard the same speeches, and postponed the decision until
the next year. Visitors described Veldmarsh as a place where nothing changed except the width
of the sandbar.

The change came from an engineer named Orla Brennick, who arrived to repair the sea wall after
a storm and stayed for thirty years. Brennick noticed that the silt did not settle evenly. It
collected behind a bend in the river where the water slowed, and it was carried out again
whenever a strong ebb tide coincided with low river flow. She proposed not a dredged channel
but a set of timber groynes and a sluice gate on the old mill stream, so that the town could
hold back river water for a few hours and release it on the ebb, scouring the channel
naturally. The plan was cheap, reversible and slow, and for those reasons both factions agreed
to try it, each expecting it to fail.

It took eleven years for the channel to reach a depth of three metres at low tide. In that
time the fishing families discovered that the flatfish had moved only a few hundred metres
east, to new banks formed by the silt the sluice pushed out, and several of them built a
second landing stage there. The merchants, meanwhile, found that coastal traders were willing
to call at Veldmarsh once the tide tables showed a reliable channel, and the grain trade grew
enough to justify a warehouse on the quay. The market square stayed where it was, but a new
street of shops and lodging houses filled the gap between the square and the water.

Brennick kept detailed records of every release of the sluice: the height of the tide, the
flow of the river, the depth measured at six marked posts the next morning. Her notebooks
survive in the town library and show a patient method. She changed one thing at a time, wrote
down what she expected before each trial, and noted plainly when the result disagreed with
her expectation. Several of her early groynes were removed because they made the scouring
worse, and she recorded those failures with the same care as the successes.

The arrangement was tested in the great flood forty years later, when a week of rain on the
moors coincided with a spring tide and an onshore gale. The old town would have flooded to
the market steps. Instead the sluice keepers opened the gates early, drew the mill pond down,
and used it to absorb the first surge of river water; the channel carried the rest out on the
next ebb. Water reached the quay warehouses but not the houses behind them, and no one in the
town was hurt.

Today Veldmarsh is known less for its harbour than for its habit of settling arguments by
measurement. The council still meets every winter, but it now publishes the depth readings
from the six posts alongside the minutes, and proposals to change the groynes must say in
advance what they expect to happen and how it will be measured. Schoolchildren take the
readings as part of their lessons, and the town's museum displays Brennick's notebooks open
at the page where she wrote that her favourite design had failed, followed by the words
"Good: now we know."
"""

_SUMMARISE = (
    "Summarise the following history in five bullet points, then say in one sentence what "
    "lesson it offers to engineers.\n\n" + _HARBOUR
)

_CODE = (
    "Write a Python function `merge_intervals(intervals: list[tuple[int, int]]) -> "
    "list[tuple[int, int]]` that merges overlapping closed intervals and returns them sorted. "
    "Include type hints, a docstring, and three pytest test functions covering empty input, "
    "touching intervals and nested intervals."
)

DEFAULT_SUITE: tuple[BenchmarkPrompt, ...] = (
    BenchmarkPrompt(name="chat", text=_CHAT),
    BenchmarkPrompt(name="summarise", text=_SUMMARISE),
    BenchmarkPrompt(name="code", text=_CODE),
)
