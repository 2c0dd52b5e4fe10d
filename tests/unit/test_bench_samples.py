"""The bench's samples: every sample event file, of whatever shape, makes a fresh bench sample, and
every function of the template has one (a new event shape or function fails here, not in the bench)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenthub import PROJECT_ROOT
from agenthub.bench.samples import (
    BENCH_EVENTS_DIR,
    NOT_MEASURED,
    SAMPLE_EVENTS,
    NoSample,
    answer_problem,
    fresh_sample_of,
    sample_event_files,
)
from agenthub.local.sample_events import EVENTS_DIR, Names, is_sample_event, needs_path
from agenthub.template import load_sam_template

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class StandInNames(Names):
    """Every name a deployment could have, each resolving to a value that says which it was (the
    e2e tier resolves the samples against the deployed stack)."""

    def value(self, name: str) -> str:
        return f"stand-in:{name}"


NAMES = StandInNames(resources={})


def every_sample_file() -> list[Path]:
    """Walked here rather than taken from the code under test: events/, each tool's, the bench's."""
    folders = [EVENTS_DIR, *PROJECT_ROOT.glob("tools/*/events"), BENCH_EVENTS_DIR]
    return sorted(path for folder in folders for path in folder.rglob("*.json") if is_sample_event(path))


def skeleton(value: Any) -> Any:
    """The value's shape: its containers and keys, with every scalar replaced by its type."""
    if isinstance(value, dict):
        return {key: skeleton(item) for key, item in value.items()}
    if isinstance(value, list):
        return [skeleton(item) for item in value]
    return type(value).__name__


def needs_other_functions(path: Path) -> bool:
    sidecar = needs_path(path)
    return sidecar.exists() and bool(json.loads(sidecar.read_text()).get("invoke"))


def headers_named(event: Any, field: str, name: str) -> list[Any]:
    headers = event.get(field) if isinstance(event, dict) else None
    return [value for key, value in (headers or {}).items() if key.lower() == name]


def test_the_bench_walks_every_sample_event_file_there_is() -> None:
    files = every_sample_file()

    assert sample_event_files() == files
    assert {path.parent.parent.name for path in files if "tools" in path.parts} == {
        path.name for path in (PROJECT_ROOT / "tools").iterdir() if (path / "events").is_dir()
    }
    assert any(isinstance(json.loads(path.read_text()), list) for path in files)  # not only objects


@pytest.mark.parametrize("path", every_sample_file(), ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_every_sample_event_makes_a_fresh_bench_sample(path: Path) -> None:
    original_text = path.read_text()
    original = json.loads(original_text)
    if needs_other_functions(path):  # never measured: it would measure its prerequisites too
        with pytest.raises(NoSample, match=rf"{re.escape(path.name)} needs \w+Function.* to run first"):
            fresh_sample_of(path, NAMES)
        return

    first, second = fresh_sample_of(path, NAMES), fresh_sample_of(path, NAMES)

    assert skeleton(first.event) == skeleton(original)
    text = json.dumps(first.event)
    assert "${" not in text
    assert "${" not in json.dumps([key for _, key, _ in first.objects])
    keys = headers_named(first.event, "headers", "idempotency-key")
    old_ids, new_ids = (
        set(UUID.findall(original_text)),
        set(UUID.findall(text)) - set(UUID.findall(str(keys))),
    )
    assert not old_ids & new_ids, "an id of the file was left as it was"
    assert len(new_ids) == len(old_ids)  # renamed one to one
    if old_ids:
        assert first.event != second.event  # each sample is new
    for key in keys:
        assert key.startswith("bench-")
        assert key not in original_text
        assert headers_named(first.event, "multiValueHeaders", "idempotency-key") in ([], [[key]])
        assert key not in json.dumps(second.event)
    assert all(body for _, _, body in first.objects)
    assert path.read_text() == original_text  # the file is never changed


def test_every_function_of_the_template_has_a_sample_or_a_reason_it_has_none() -> None:
    resources = load_sam_template()["Resources"]
    functions = {
        name for name, resource in resources.items() if resource["Type"] == "AWS::Serverless::Function"
    }

    assert set(SAMPLE_EVENTS) | set(NOT_MEASURED) == functions
    assert not set(SAMPLE_EVENTS) & set(NOT_MEASURED)
    assert all(reason.strip() for reason in NOT_MEASURED.values())
    files = every_sample_file()
    for logical_id, path in SAMPLE_EVENTS.items():
        assert path in files, f"{logical_id}'s sample {path} is no sample event file"
        assert not needs_other_functions(path), f"{logical_id}'s sample needs other functions first"


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.uuids().map(str)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
HEADER_NAMES = st.sampled_from(["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY", "Content-Type"])


@settings(max_examples=60, deadline=None)
@given(event=JSON, headers=st.none() | st.dictionaries(HEADER_NAMES, st.text(max_size=8), max_size=3))
def test_any_event_keeps_its_shape_and_only_its_ids_and_idempotency_key_change(
    tmp_path_factory: pytest.TempPathFactory, event: Any, headers: dict[str, str] | None
) -> None:
    api_event = {"httpMethod": "POST", "headers": headers, "multiValueHeaders": None, "body": event}
    twice = [event, event]
    for given_event in (event, twice, api_event):
        path = tmp_path_factory.mktemp("events") / "event.json"
        path.write_text(json.dumps(given_event))

        fresh = fresh_sample_of(path, NAMES).event

        assert skeleton(fresh) == skeleton(given_event)
        old_ids = set(UUID.findall(json.dumps(given_event)))
        assert not old_ids & set(UUID.findall(json.dumps(fresh)))
        if given_event is twice:  # the same id in two places is the same new id in both
            assert fresh[0] == fresh[1]
    for name, value in (headers or {}).items():
        renewed = fresh["headers"][name]
        if name.lower() == "idempotency-key":
            assert renewed.startswith("bench-")
            assert renewed != value
        else:
            assert renewed == value
    assert fresh["multiValueHeaders"] is None


class FakeS3:
    """What the answer check reads of S3: one object, or none."""

    class exceptions:  # as boto3 names a client's modelled errors
        class NoSuchKey(Exception):
            pass

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # boto3's names
        if (Bucket, Key) not in self.objects:
            raise self.exceptions.NoSuchKey(Key)
        body = self.objects[(Bucket, Key)]
        return {"Body": type("Body", (), {"read": lambda self: body})()}


REGISTRAR_EVENT = {
    "RequestId": "9a8b7c6d-0000-4000-8000-0000000000aa",
    "ResponseURL": "http://127.0.0.1:4566/cloudformation-custom-resource-response-useast1/sample-create",
}
ANSWER_AT = ("cloudformation-custom-resource-response-useast1", "sample-create")


def test_the_registrar_is_measured_only_when_cloudformation_heard_success_for_its_request() -> None:
    def answered(status: str, request_id: str) -> FakeS3:
        answer = {"Status": status, "RequestId": request_id, "Reason": "the tool spec is not valid"}
        return FakeS3({ANSWER_AT: json.dumps(answer).encode()})

    success = answered("SUCCESS", REGISTRAR_EVENT["RequestId"])

    assert answer_problem("ToolRegistrarFunction", REGISTRAR_EVENT, success) is None
    failed = answer_problem(
        "ToolRegistrarFunction", REGISTRAR_EVENT, answered("FAILED", REGISTRAR_EVENT["RequestId"])
    )
    assert failed == "CloudFormation was answered FAILED: the tool spec is not valid"
    stale = answer_problem(
        "ToolRegistrarFunction", REGISTRAR_EVENT, answered("SUCCESS", "an-earlier-request")
    )
    assert stale == "it never answered this request: the answer at sample-create is an-earlier-request's"
    never = answer_problem("ToolRegistrarFunction", REGISTRAR_EVENT, FakeS3({}))
    assert never == "it never answered CloudFormation at sample-create"
    # A function that answers by returning is not looked for elsewhere.
    assert answer_problem("FrontDoorFunction", {}, FakeS3({})) is None
