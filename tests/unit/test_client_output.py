"""What the client commands print: text from a model, a tool or a caller exactly as it is (never
read as markup, its control characters shown), tables that fit what reads them, and every tool
call of an agent's run, once."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenthub import client_commands
from agenthub.hub_access import Hub
from agenthub.terminal import literal

HUB = Hub(
    "local http://127.0.0.1:1/prod", "http://127.0.0.1:1/prod", "http://127.0.0.1:1/oauth2/token", "c", None
)
# Text as models, tools and callers write it: rich's markup and emoji codes, brackets, emoji,
# control characters (an escape sequence among them), and anything else.
FRAGMENTS = st.sampled_from(
    ["[", "]", "[/]", "[bold]", "[red]x[/red]", "[local amazon.nova-lite-v1:0]", ":smile:", "😀", "🧑‍🔬",
     "\x1b[31m", "\x07", "\r", "\x00", "\x9b", "\t", "\\", "[link=http://x]y[/link]", "'\"", "é"]
)  # fmt: skip
TEXTS = st.lists(FRAGMENTS | st.text(max_size=8), min_size=1, max_size=5).map("".join).filter(bool)


class FakeApi:
    """The hub's API, answering each call with the next of `answers`."""

    def __init__(self, *answers: Any) -> None:
        self.hub = HUB
        self._answers = iter(answers)
        self.calls: list[tuple[str, str]] = []

    def call(self, method: str, path: str, *_: Any, **__: Any) -> tuple[Any, dict[str, str]]:
        self.calls.append((method, path))
        return next(self._answers), {}


def args(**values: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"json": False, "local": True, "stack": None, "region": None, **values})


@contextlib.contextmanager
def hub_answers(*answers: Any) -> Iterator[io.StringIO]:
    """The command's stdout, with the API answering `answers` in turn (and no pause between polls)."""
    out = io.StringIO()
    api = FakeApi(*answers)
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        patch.delenv("COLUMNS", raising=False)
        patch.setattr(client_commands, "_api", lambda _: api)
        patch.setattr(client_commands.time, "sleep", lambda _: None)
        yield out


def view(status: str = "SUCCEEDED", **fields: Any) -> dict[str, Any]:
    return {
        "request_id": "9b179d07-b5db-4fc0-8d14-f11c8a5060e8",
        "pipeline": "agent",
        "status": status,
        "created_at": "2026-12-04T01:29:25.420896+00:00",
        "updated_at": "2026-12-04T01:29:26.831382+00:00",
        "history": [],
        "result": None,
        "error": None,
        "progress": None,
        **fields,
    }


def call(turn: int, tool: str, answer: str = "ok", tool_input: str = "{}") -> dict[str, Any]:
    return {"turn": turn, "tool": tool, "input": tool_input, "outcome": "success", "answer": answer}


def test_literal_leaves_no_control_character_but_the_newline_and_keeps_the_rest_in_order() -> None:
    every_character = "".join(chr(code) for code in range(0x250))

    shown = literal(every_character)

    assert [c for c in shown if unicodedata.category(c) == "Cc"] == ["\n"]
    assert "\\x1b" in shown
    assert "\\x00" in shown
    printable = [c for c in every_character if unicodedata.category(c) != "Cc"]
    assert [c for c in shown if c in printable and c not in "\\x0123456789abcdef"] == [
        c for c in printable if c not in "\\x0123456789abcdef"
    ]


@settings(max_examples=60, deadline=None)
@given(answer=TEXTS, tool_answer=TEXTS, tool_input=TEXTS, note=TEXTS)
def test_status_prints_the_models_and_the_tools_text_as_it_is(
    answer: str, tool_answer: str, tool_input: str, note: str
) -> None:
    shown = view(
        history=[{"event_type": "agent.completed", "status": "SUCCEEDED", "occurred_at": "t", "note": note}],
        result={"output_text": answer, "transcript": [call(1, "calculator", tool_answer, tool_input)]},
    )

    with hub_answers(shown) as out:
        assert client_commands.status(args(request_id=shown["request_id"])) == 0

    printed = out.getvalue()
    assert literal(client_commands._short(answer, 400)) in printed  # a model's answer keeps its lines
    for text in (tool_answer, tool_input):  # a list's entries stay one line each (a call's cut at 60)
        assert literal(client_commands._short(text, 60), one_line=True) in printed
    assert literal(note, one_line=True) in printed
    assert "\x1b" not in printed  # no escape sequence reaches the terminal
    assert f"result: {literal(client_commands._short(answer, 400))}\n" in printed


@settings(max_examples=40, deadline=None)
@given(error=TEXTS, prompt=TEXTS)
def test_watch_prints_the_error_and_a_progress_without_reading_them_as_markup(
    error: str, prompt: str
) -> None:
    running = view("RUNNING", progress={"turn": 1, "tool_calls": 1, "latest_calls": call(1, "echo", prompt)})
    failed = view("FAILED", error={"error": "Failed", "cause": error})

    with hub_answers(running, failed) as out:
        assert client_commands.watch(args(request_id=running["request_id"], timeout=60)) == 1

    printed = out.getvalue()
    assert literal(client_commands._short(prompt, 60), one_line=True) in printed
    assert literal(json.dumps(error, ensure_ascii=False)[1:-1]) in printed  # inside the error's JSON


@pytest.mark.parametrize("text", ["[local amazon.nova-lite-v1:0] You sent 6 words", "[bold]x[/] :smile: [/]"])
def test_the_custom_models_name_in_brackets_is_shown(text: str) -> None:
    with hub_answers(view(pipeline="invoke", result={"output_text": text})) as out:
        client_commands.status(args(request_id="r"))

    assert f"result: {text}" in out.getvalue()


# -- an agent's tool calls, each once ------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    turns=st.lists(
        st.lists(st.sampled_from(["search_documents", "calculator"]), min_size=1, max_size=3), max_size=5
    ),
    data=st.data(),
)
def test_watch_shows_every_tool_call_status_shows_each_once(
    turns: list[list[str]], data: st.DataObject
) -> None:
    """The view's progress holds its latest turn's calls only, and a poll may come after several
    turns have ended: whichever polls see whichever turns, watch ends having printed them all."""
    transcript = [
        call(number, tool, f"answer {number}.{index}")
        for number, tools in enumerate(turns, 1)
        for index, tool in enumerate(tools)
    ]
    snapshots = [
        view(
            "RUNNING",
            progress={"turn": number, "latest_calls": [c for c in transcript if c["turn"] == number]},
        )
        for number in range(1, len(turns) + 1)
    ]
    polled = [snapshot for snapshot in snapshots if data.draw(st.booleans())]  # the ones a poll saw
    final = view(result={"output_text": "done", "transcript": transcript})

    with hub_answers(*polled, final) as watched:
        assert client_commands.watch(args(request_id="r", timeout=60)) == 0
    with hub_answers(final) as status:
        client_commands.status(args(request_id="r"))

    def tool_lines(text: str) -> list[str]:
        return sorted(line.strip() for line in text.splitlines() if " tool " in f" {line.strip()}")

    assert tool_lines(watched.getvalue()) == tool_lines(status.getvalue())
    assert len(tool_lines(watched.getvalue())) == len(transcript)


def test_a_history_entry_that_arrives_after_a_later_one_is_still_shown_once() -> None:
    accepted = {
        "event_type": "request.accepted",
        "status": "ACCEPTED",
        "occurred_at": "2026-12-04T01:00:00+00:00",
    }
    started = {"event_type": "agent.started", "status": "RUNNING", "occurred_at": "2026-12-04T01:00:01+00:00"}
    progress = {
        "event_type": "agent.progress",
        "status": "RUNNING",
        "occurred_at": "2026-12-04T01:00:02+00:00",
    }
    done = {
        "event_type": "agent.completed",
        "status": "SUCCEEDED",
        "occurred_at": "2026-12-04T01:00:03+00:00",
    }
    polls = [
        view("RUNNING", history=[accepted, progress]),  # agent.started is recorded after agent.progress
        view("RUNNING", history=[accepted, started, progress]),
        view(history=[accepted, started, progress, done], result={"output_text": "x"}),
    ]

    with hub_answers(*polls) as out:
        client_commands.watch(args(request_id="r", timeout=60))

    printed = out.getvalue()
    for entry in (accepted, started, progress, done):
        assert printed.count(entry["event_type"]) == 1, printed


# -- tables --------------------------------------------------------------------------------------


LONG = "s3://agent-hub-datalakebucket-c3e2ac291893/customization/3756ba64-dc0e-485f-bfbd-567fd50fced2/output/model.tar.gz"


def table_rows(printed: str) -> list[str]:
    return [line for line in printed.splitlines() if line.startswith("│")]


def test_a_table_that_goes_to_a_pipe_is_not_wrapped_and_shows_nested_values_as_json() -> None:
    model = {
        "name": "hub-faq-assistant",
        "method": "sft",
        "technique": "lora",
        "base_model": "amazon.nova-lite-v1:0",
        "datasets": [{"role": "training", "uri": LONG}],
        "metrics_location": {"bucket": "lake", "key": "metrics.json"},
        "invocable_arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/21b52292384c",
    }

    with hub_answers({"models": [model]}) as out:
        assert client_commands.models(args()) == 0

    printed = out.getvalue()
    (row,) = table_rows(printed)  # one line: nothing wrapped at 80 columns
    assert f"training: {LONG}" in row
    assert '{"bucket": "lake", "key": "metrics.json"}' in row
    assert "{'" not in printed  # no Python dict
    assert model["invocable_arn"] in row


@settings(max_examples=40, deadline=None)
@given(name=TEXTS, description=TEXTS)
def test_a_tables_cells_are_printed_as_they_are(name: str, description: str) -> None:
    tool = {"name": name, "description": description, "input_schema": {"properties": {"expression": {}}}}

    with hub_answers({"tools": [tool]}) as out:
        client_commands.tools(args())

    printed = out.getvalue()
    (row,) = table_rows(printed)  # a cell's newline is shown, not a second line
    assert literal(name, one_line=True) in row
    assert literal(client_commands._short(description, 70), one_line=True) in row


def test_the_requests_table_on_a_terminal_uses_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenthub.terminal import UNWRAPPED_WIDTH, console

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("COLUMNS", raising=False)
    assert console(io.StringIO()).width == UNWRAPPED_WIDTH
    assert console(Terminal()).width != UNWRAPPED_WIDTH  # the terminal's own (80 when it cannot tell)
    monkeypatch.setenv("COLUMNS", "123")
    assert console(io.StringIO()).width == 123


@pytest.mark.parametrize("columns", ["40", "80", None])
def test_a_printed_command_is_never_broken_across_lines(
    monkeypatch: pytest.MonkeyPatch, columns: str | None
) -> None:
    cursor = "eyJwayI6IlJFUVVFU1QjOWIxNzlkMDciLCJzayI6IlJFUVVFU1QifQ" * 3
    page = {
        "requests": [
            {
                "request_id": "r1",
                "pipeline": "agent",
                "status": "RUNNING",
                "created_at": "t",
                "updated_at": "t",
            }
        ],
        "next_cursor": cursor,
    }

    with hub_answers(page) as out:
        if columns:
            monkeypatch.setenv("COLUMNS", columns)
        client_commands.list_requests(args(limit=1, pipeline="agent", status=None, cursor=None))

    (more,) = [line for line in out.getvalue().splitlines() if line.startswith("more: ")]
    assert more == f"more: `agenthub requests --pipeline agent --limit 1 --cursor {cursor}`"
