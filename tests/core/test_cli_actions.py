"""The parts of `obt models pull|rm|load|unload`, `obt task` and `obt modelset` that need no
server: the task body and the options it refuses, the files `obt modelset apply` reads, and
the progress lines and tables made from a task's status. The commands against a live
`obt serve` are in tests/api/test_cli_actions.py."""

from __future__ import annotations

import io
import textwrap
from typing import Any

import click
import pytest
from click.testing import CliRunner

from obt.cli.follow import PlainDisplay, RichDisplay, make_display, node_rows, progress_text
from obt.cli.main import main
from obt.cli.modelset import describe_set, parse_modelsets
from obt.cli.objects import jsonpath, printer_table
from obt.cli.operations import build_task
from obt.cli.task import describe_task
from obt.core.kinds.ollamatask import PRINTER_COLUMNS as TASK_COLUMNS
from obt.core.models.actions import OllamaTask

GIB = 1024**3


def _target(**given: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "nodes": None,
        "selector": None,
        "all_nodes": False,
        "keep_alive": None,
        "max_concurrent": None,
        "evict": False,
        "ttl": None,
    }
    return {**base, **given}


def test_the_task_body_is_the_kinds_wire_form() -> None:
    body = build_task("pull", ("llama3.2", "qwen2.5:7b"), **_target(nodes="a, b,a"))
    assert body == {
        "apiVersion": "obt.dev/v1alpha1",
        "kind": "OllamaTask",
        "spec": {
            "action": "pull",
            "models": [{"name": "llama3.2:latest"}, {"name": "qwen2.5:7b"}],
            "nodes": ["a", "b"],
        },
    }
    loaded = build_task(
        "load",
        ("llama3.2",),
        **_target(selector="gpu=h100,zone in (a,b),!spot", keep_alive="-1", max_concurrent=2),
    )["spec"]
    assert loaded["nodeSelector"] == {
        "matchLabels": {"gpu": "h100"},
        "matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a", "b"]},
            {"key": "spot", "operator": "DoesNotExist"},
        ],
    }
    assert loaded["keepAlive"] == "-1" and loaded["maxConcurrent"] == 2
    every = build_task("unload", ("llama3.2",), **_target(all_nodes=True, evict=True, ttl=60))
    assert every["spec"]["nodeSelector"] == {} and every["spec"]["evict"] is True
    assert every["spec"]["ttlSecondsAfterFinished"] == 60


@pytest.mark.parametrize(
    ("action", "models", "given", "wrong"),
    [
        ("pull", ("llama3.2",), {}, "say where: --nodes"),
        ("pull", ("llama3.2",), {"nodes": "a", "selector": "x=y"}, "--nodes and --selector"),
        ("pull", ("llama3.2",), {"selector": "x=y", "all_nodes": True}, "--selector and --all"),
        ("pull", ("llama3.2",), {"nodes": "a,,b"}, "'a,,b' has an empty node name"),
        ("pull", ("llama3.2",), {"selector": "zone in (a"}, "'zone in (a'"),
        ("pull", ("llama3.2",), {"selector": "  "}, "--all-nodes for every node"),
        ("pull", ("no good!",), {"nodes": "a"}, "'no good!' is not a model name"),
        ("pull", ("llama3.2",), {"nodes": "a", "evict": True}, "--evict applies to"),
        ("delete", ("llama3.2",), {"nodes": "a", "keep_alive": "5m"}, "--keep-alive applies"),
        ("load", ("llama3.2",), {"nodes": "a", "keep_alive": "soon"}, "--keep-alive: 'soon'"),
    ],
)
def test_bad_options_are_refused_naming_what(
    action: str, models: tuple[str, ...], given: dict[str, Any], wrong: str
) -> None:
    with pytest.raises(click.UsageError) as caught:
        build_task(action, models, **_target(**given))
    assert wrong in caught.value.format_message()


def test_the_cli_refuses_before_calling_any_server() -> None:
    # A closed port: a refusal here comes from the checks, not from the server.
    server = "http://127.0.0.1:9"
    for argv, wrong in (
        (["models", "pull", "llama3.2", "--nodes", "a", "-l", "x=y"], "not several"),
        (["models", "pull", "Bad Name", "--nodes", "a"], "'Bad Name' is not a model name"),
        (["models", "pull", "llama3.2", "-l", "a b c"], "--selector"),
        (["models", "pull", "llama3.2", "--nodes", "a", "--timeout", "3"], "add --wait"),
        (["models", "rm", "llama3.2", "--nodes", "a", "--keep-alive", "5m"], "--keep-alive"),
    ):
        result = CliRunner().invoke(main, [*argv, "--server", server])
        assert result.exit_code == 2, (argv, result.output)
        assert wrong in result.output, (argv, result.output)


def test_obt_models_keeps_its_listing_forms() -> None:
    """`obt models`, `obt models NAME` and `obt models -o wide` still list (as `list`)."""
    group = main.get_command(click.Context(main), "models")
    assert isinstance(group, click.Group)
    for argv, sub in (
        ([], "list"),
        (["llama3.2"], "list"),
        (["-o", "wide"], "list"),
        (["pull", "x", "--nodes", "a"], "pull"),
        (["rm", "x", "--nodes", "a"], "rm"),
    ):
        ctx = group.make_context("models", list(argv))
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        assert rest[0] == sub, (argv, rest)


SETS = textwrap.dedent(
    """\
    apiVersion: obt.dev/v1alpha1
    kind: OllamaModelSet
    metadata: {name: chat}
    spec:
      models: [{name: llama3.2}, {name: "qwen2.5:7b"}]
      nodeSelector: {matchLabels: {gpu: h100}}
      keepLoaded: true
      maxConcurrentPulls: 25%
    ---
    apiVersion: obt.dev/v1alpha1
    kind: OllamaModelSet
    metadata: {name: embed}
    spec:
      models: [{name: nomic-embed-text}]
    """
)


def test_modelset_files_are_yaml_or_json_with_one_or_more_documents() -> None:
    sets = parse_modelsets("sets.yaml", SETS)
    assert [s.metadata.name for s in sets] == ["chat", "embed"]
    assert [m.name for m in sets[0].spec.models] == ["llama3.2:latest", "qwen2.5:7b"]
    assert sets[0].spec.max_concurrent_pulls == "25%" and sets[0].spec.keep_loaded
    as_json = (
        '{"apiVersion": "obt.dev/v1alpha1", "kind": "OllamaModelSet", '
        '"metadata": {"name": "one"}, "spec": {"models": [{"name": "llama3.2"}]}}'
    )
    assert [s.metadata.name for s in parse_modelsets("one.json", as_json)] == ["one"]
    listed = textwrap.dedent(
        """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: obt.dev/v1alpha1
          kind: OllamaModelSet
          metadata: {name: embed}
          spec: {models: [{name: nomic-embed-text}]}
        """
    )
    assert [s.metadata.name for s in parse_modelsets("list.yaml", listed)] == ["embed"]


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("", "no document"),
        ("[unclosed", "not YAML or JSON"),
        ("- just a string", "item 1: not an object"),
        (SETS.replace("kind: OllamaModelSet", "kind: OllamaTask", 1), "(create tasks with"),
        (SETS.replace("obt.dev/v1alpha1", "obt.dev/v1", 1), "apiVersion 'obt.dev/v1'"),
        (SETS.replace("25%", "0%"), "document 1): spec.maxConcurrentPulls"),
        (SETS.replace("nomic-embed-text", "bad name!"), "document 2): spec.models.0.name"),
        (SETS.replace("name: embed", "name: chat"), "a second set named 'chat'"),
        (SETS.replace("name: embed", "name: Embed_1"), "metadata.name 'Embed_1' is not"),
    ],
)
def test_bad_modelset_files_name_document_and_field(text: str, wrong: str) -> None:
    with pytest.raises(click.BadParameter) as caught:
        parse_modelsets("sets.yaml", text)
    message = caught.value.format_message()
    assert "sets.yaml" in message and wrong in message, message


def _task(phase: str = "Running", nodes: list[dict[str, Any]] | None = None) -> OllamaTask:
    return OllamaTask.model_validate(
        {
            "metadata": {
                "name": "pull-llama3-2-abcde",
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {"action": "pull", "models": [{"name": "llama3.2"}], "nodes": ["a", "b", "c"]},
            "status": {
                "phase": phase,
                "selected": 3,
                "failed": 1,
                "running": 1,
                "pending": 1,
                "nodes": nodes
                if nodes is not None
                else [
                    {
                        "node": "b",
                        "phase": "Failed",
                        "model": "llama3.2:latest",
                        "reason": "OllamaError",
                        "message": "pull model manifest: file does not exist",
                    },
                    {
                        "node": "a",
                        "phase": "Running",
                        "model": "llama3.2:latest",
                        "completedBytes": GIB // 2,
                        "totalBytes": 2 * GIB,
                    },
                ],
            },
        }
    )


def test_rows_name_every_node_failures_first_and_pending_ones_last() -> None:
    rows = node_rows(_task())
    assert [(r.node, r.phase) for r in rows] == [
        ("b", "Failed"),
        ("a", "Running"),
        ("c", "Pending"),
    ]
    assert rows[0].failure() == (
        "node b: OllamaError: pull model manifest: file does not exist (llama3.2:latest)"
    )
    assert progress_text(rows[1]) == "512.0MiB/2.0GiB (25%)"
    assert progress_text(rows[2]) == ""


def test_plain_progress_prints_a_line_per_change_only() -> None:
    out = io.StringIO()
    display = PlainDisplay(out)
    display.update(_task())
    display.update(_task())  # nothing changed: nothing printed
    first = out.getvalue().splitlines()
    assert first == [
        "node b: Failed llama3.2:latest OllamaError: pull model manifest: file does not exist",
        "node a: Running llama3.2:latest 512.0MiB/2.0GiB (25%)",
        "node c: Pending",
        "task pull-llama3-2-abcde Running: 0 succeeded, 1 failed, 1 running, 1 pending of 3 node(s)",
    ]
    moved = _task()
    moved.status.nodes[1].completed_bytes = GIB // 2 + 1024  # within the same tenth
    display.update(moved)
    assert out.getvalue().splitlines() == first
    moved.status.nodes[1].completed_bytes = 2 * GIB
    moved.status.nodes[1].phase = "Succeeded"
    display.update(moved)
    assert out.getvalue().splitlines()[len(first) :] == [
        "node a: Succeeded llama3.2:latest 2.0GiB/2.0GiB (100%)"
    ]


def test_task_tables_come_from_the_printer_columns() -> None:
    raw = _task().to_wire()
    assert jsonpath(raw, ".spec.models[*].name") == "llama3.2:latest"
    assert jsonpath(raw, ".status.selected") == 3
    assert jsonpath(raw, ".status.missing") is None
    table = printer_table([raw], TASK_COLUMNS).splitlines()
    assert table[0].split() == [
        "NAME", "ACTION", "MODELS", "NODES", "DONE", "FAILED", "PHASE", "AGE"
    ]  # fmt: skip
    assert table[1].split()[:7] == [
        "pull-llama3-2-abcde", "pull", "llama3.2:latest", "3", "0", "1", "Running"
    ]  # fmt: skip
    described = describe_task(raw)
    assert "Nodes:" in described and "a,b,c" in described
    assert "OllamaError" in described and "pull model manifest: file does not exist" in described
    assert "512.0MiB/2.0GiB (25%)" in described


def test_a_model_set_is_described_with_the_nodes_that_are_not_ready() -> None:
    raw = parse_modelsets("s.yaml", SETS)[0].to_wire()
    raw["status"] = {
        "selected": 2,
        "ready": 1,
        "failed": 1,
        "nodes": [
            {
                "node": "b",
                "state": "Failed",
                "missing": ["qwen2.5:7b"],
                "reason": "DiskFull",
                "message": "needs 4.7 GB, 1.2 GB free",
            }
        ],
        "conditions": [
            {
                "type": "Degraded",
                "status": "True",
                "reason": "PullFailed",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    text = describe_set(raw)
    assert "Selector:" in text and "gpu=h100" in text
    assert "2 selected: 1 ready" in text and "Condition Degraded" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("b "))
    assert "qwen2.5:7b" in line and "DiskFull" in line and "1.2 GB free" in line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_progress_bars_a_pipe_plain_lines() -> None:
    assert isinstance(make_display(io.StringIO(), "pull"), PlainDisplay)
    screen = _Terminal()
    display = make_display(screen, "pull")
    assert isinstance(display, RichDisplay)
    display.update(_task())
    done = _task("Failed")
    done.status.nodes[1].phase = "Succeeded"
    done.status.nodes[1].completed_bytes = 2 * GIB
    display.update(done)
    display.close()
    drawn = screen.getvalue()
    assert "task pull-llama3-2-abcde" in drawn and "Failed: 0/3 done, 1 failed" in drawn
    assert "Failed: OllamaError" in drawn and "2.0GiB/2.0GiB" in drawn
    assert "\x1b[" in drawn  # drawn with terminal control sequences, not as lines
