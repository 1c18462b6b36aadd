"""Every `obt ...` command line quoted in README.md and docs/*.md parses with the real CLI
(issue 11, must show 6), so the docs cannot drift from the commands again.

Each command line found in a shell code block or in inline code goes through click's own
parsing of the real `obt` command tree, subcommand by subcommand (`make_context`, which parses
and converts but never runs a command). Not checked: whether required arguments are all there
(prose names `obt token revoke` without its id). Placeholders are allowed as values: `URL`,
`TOKEN`, `<name>`, `$VAR`, `...` (an option that wants a number or a choice gets a valid one in
their place), and `[OPTIONAL]` parts and `a|b` alternatives are expanded.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from obt.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console", "zsh", "powershell", "ps1", "pwsh", "text"}
PLACEHOLDER = re.compile(
    r"^(<[^>]*>|[A-Z][A-Z0-9_]*(\.\.\.)?|\$\{?\w+\}?|\$\(.*\)|.*\.\.\..*|.*….*|%\w+%)$"
)
WRAPPERS = {"sudo", "exec", "nohup", "time", "env", "&", "."}


@dataclass(frozen=True)
class Quoted:
    doc: Path
    line: int
    text: str

    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}: `{self.text}`"


def _fences(lines: list[str]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, in a shell code block) for every line of a Markdown file."""
    fence: str | None = None
    shell = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        match = re.match(r"^(```+|~~~+)\s*([\w+-]*)", stripped)
        if match and (fence is None or stripped.startswith(fence)):
            if fence is None:
                fence, shell = match.group(1), match.group(2).lower() in SHELL_LANGUAGES
            else:
                fence = None
            continue
        yield number, line, fence is not None and shell


def _segments(command_line: str) -> Iterator[str]:
    """The simple commands of a shell line: split at && || ; and spaced pipes."""
    yield from (s.strip() for s in re.split(r"&&|\|\||;|\s\|\s", command_line) if s.strip())


def quoted_commands(doc: Path) -> Iterator[Quoted]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    pending: tuple[int, str] | None = None
    for number, line, in_shell in _fences(lines):
        if in_shell:
            text = re.sub(r"^\s*(\$|>|PS>|PS [^>]*>)\s+", "", line)
            if pending is not None:
                start, text = pending[0], pending[1] + " " + text.strip()
                pending = None
            else:
                start = number
            if text.rstrip().endswith(("\\", "`")) and not text.rstrip().endswith("``"):
                pending = (start, text.rstrip()[:-1])
                continue
            for segment in _segments(text):
                if _obt_words(segment) is not None:
                    yield Quoted(doc, start, segment)
            continue
        for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", line):
            if re.match(r"^(\S*/)?obt(\.exe)?(\s|$)", span.strip()):
                yield Quoted(doc, number, span.strip())


def _obt_words(segment: str) -> list[str] | None:
    """The words after `obt` when the segment runs obt (after env assignments and wrappers)."""
    segment = re.sub(r"\s\[[^\]]*\]", "", segment)  # [OPTIONAL] parts of a synopsis
    segment = re.sub(r"<[^<>]*>", lambda m: m.group(0).replace(" ", "_"), segment)  # <this URL>
    try:
        words = shlex.split(segment, comments=True, posix=True)
    except ValueError:
        return None
    while words and (words[0] in WRAPPERS or re.match(r"^\w+=", words[0])):
        words = words[1:]
    if not words or not re.match(r"^(.*[/\\])?obt(\.exe)?$", words[0]):
        return None
    return _without_redirections(words[1:])


def _without_redirections(words: list[str]) -> list[str]:
    """Drop `> file`, `2>&1`, `>>log`, `< in`: the shell's, not obt's."""
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif re.match(r"^(\d*>>?|&>|<)$", word):
            skip = True  # the target is the next word
        elif not re.match(r"^\d*>>?\S+$", word):
            out.append(word)
    return out


def _alternatives(words: list[str]) -> list[list[str]]:
    """`create|list|revoke` -> one command line per alternative."""
    out: list[list[str]] = [[]]
    for word in words:
        choices = word.split("|") if "|" in word and not word.startswith("-") else [word]
        out = [[*prefix, choice] for prefix in out for choice in choices if choice]
    return out


def _sample(param: click.Parameter) -> str | None:
    """A value this option accepts, to stand in for a placeholder."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        low = getattr(kind, "min", None)
        return str(low if low is not None else 1)
    if isinstance(kind, click.types.BoolParamType):
        return "true"
    return None


def _fill_placeholders(command: click.Command, ctx: click.Context, args: list[str]) -> list[str]:
    options = {
        name: p
        for p in command.get_params(ctx)
        if isinstance(p, click.Option) and not p.is_flag and not p.count
        for name in p.opts
    }
    out = list(args)
    for i, word in enumerate(out):
        name, eq, value = word.partition("=")
        if eq and name in options and PLACEHOLDER.match(value):
            sample = _sample(options[name])
            if sample is not None:
                out[i] = f"{name}={sample}"
        elif word in options and i + 1 < len(out) and PLACEHOLDER.match(out[i + 1]):
            sample = _sample(options[word])
            if sample is not None:
                out[i + 1] = sample
    return out


def parse_error(words: list[str]) -> str | None:
    """None when `obt <words>` parses with the real CLI, else what is wrong."""
    command: click.Command = main
    args = words
    path = "obt"
    parent: click.Context | None = None
    while True:
        probe = click.Context(command, info_name=path.split()[-1], parent=parent)
        args = _fill_placeholders(command, probe, args)
        try:
            ctx = command.make_context(path.split()[-1], list(args), parent=parent)
        except click.exceptions.Exit:  # --help, --version
            return None
        except click.exceptions.NoArgsIsHelpError:  # `obt token`: the group's help
            return None
        except click.MissingParameter:  # prose names a command without its arguments
            return None
        except click.BadParameter as error:  # an example file (`--ca-file ca.pem`) is not here
            if isinstance(getattr(error.param, "type", None), click.Path) and (
                "does not exist" in error.format_message()
            ):
                return None
            return f"`{path}`: {error.format_message()}"
        except click.UsageError as error:
            return f"`{path}`: {error.format_message()}"
        # What the group left for its subcommand (click 9 keeps it all in ctx.args).
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not isinstance(command, click.Group) or not rest:
            return None
        name = rest[0]
        sub = command.get_command(ctx, name)
        if sub is None:
            known = ", ".join(command.list_commands(ctx))
            return (
                f"`{path} {name}` is not a command (`{path}` has: {known}); if another branch "
                "adds it, this passes once that is merged"
            )
        command, args, parent, path = sub, rest[1:], ctx, f"{path} {name}"


ALL = [q for doc in DOCS for q in quoted_commands(doc)]


def test_the_docs_quote_obt_commands() -> None:
    """The walk finds what it is meant to (a regex that matched nothing would pass anything)."""
    texts = {q.text for q in ALL}
    assert len(ALL) >= 30, len(ALL)
    assert {q.doc.name for q in ALL} >= {"README.md", "agent.md", "api.md"}
    assert any(t.startswith("obt serve") for t in texts)
    assert any(t.startswith("obt agent") for t in texts)


def test_every_quoted_obt_command_parses() -> None:
    failures = []
    for quoted in ALL:
        words = _obt_words(quoted.text)
        assert words is not None, quoted.where()
        for alternative in _alternatives(words):
            error = parse_error(alternative)
            if error:
                failures.append(f"{quoted.where()}\n    {error}")
    assert not failures, "commands quoted in the docs that the CLI does not accept:\n" + "\n".join(
        failures
    )


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ("obt nodes --selectr zone=a", "No such option '--selectr'"),
        ("obt nodez", "`obt nodez` is not a command"),
        ("obt fleet rm NAME", "`obt fleet` is not a command"),
        ("obt nodes -o yaml", "'yaml' is not one of"),
        ("obt token create extra-argument", "unexpected extra argument"),
        ("obt nodes -l", "requires an argument"),
    ],
)
def test_the_check_catches_what_is_wrong(line: str, wrong: str) -> None:
    words = _obt_words(line)
    assert words is not None
    error = parse_error(words)
    assert error is not None and wrong in error, error


@pytest.mark.parametrize(
    "line",
    [
        "obt agent --server URL --enroll-token TOKEN",
        "obt serve --port PORT --data-dir <dir>",
        "obt nodes [NAME] -o wide",
        "obt token create|list|revoke",
        "OBT_SERVER=http://x sudo obt models llama3.2",
        "obt serve --port=PORT",
        "obt token",
        "obt token revoke",
        "obt --version",
        "obt nodes gaming-pc -o json > /dev/null 2>&1",
        "obt agent detect --json >> report.json < /dev/null",
    ],
)
def test_placeholders_and_synopses_are_allowed(line: str) -> None:
    words = _obt_words(line)
    assert words is not None
    for alternative in _alternatives(words):
        assert parse_error(alternative) is None, (line, parse_error(alternative))


def test_code_blocks_and_inline_code_are_both_read(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "Run `obt serve --demo` first.\n"
        "```bash\n"
        "$ obt agent \\\n"
        "    --server URL && obt nodes | head\n"
        "```\n"
        "```yaml\n"
        "obt: not a command here\n"
        "```\n"
        "`pip install 'obt[agent]'` is no obt command.\n"
    )
    found = [(q.line, q.text) for q in quoted_commands(doc)]
    assert found == [(1, "obt serve --demo"), (3, "obt agent  --server URL"), (3, "obt nodes")]
