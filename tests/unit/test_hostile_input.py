"""Hostile input never escapes as an unhandled exception: property-based tests (hypothesis) over the
request models, the customization contract, the hub envelope and the dataset validator.

Each refuses what it cannot take with its own typed error (pydantic's ValidationError, the
contract's UnsupportedCustomization, a line of the validator's report) and never with anything
else; what it accepts is finite, in range and JSON. Derandomized and bounded: the same examples
every run, a few seconds in all. docs/reliability.md cases 6, 31 and 32; tests/integration/
test_hostile_input.py drives the front door's routes the same way.
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from contracts.customization import (
    HYPERPARAMETERS,
    CustomizeInput,
    Method,
    UnsupportedCustomization,
    backend_for,
    hyperparameters_for,
)
from contracts.requests import AnyRequest, SubmitRequest, stages_of
from customization.dataset_rules import MAX_REPORTED_ERRORS, validate_lines
from shared.hub import HubEvent, new_event, parse_notification

HOSTILE = settings(max_examples=150, derandomize=True, deadline=None)
SUBMIT: TypeAdapter[AnyRequest] = TypeAdapter(SubmitRequest)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 5, 50, 800, 8000, 1e-7, 1e-3, 0.5, 1.0, 1e308]),
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, value, value, JSON_VALUES)


CUSTOMIZE_INPUTS = st.fixed_dictionaries(
    {
        "method": _maybe(st.sampled_from([method.value for method in Method])),
        "base_model": _maybe(
            st.sampled_from(["amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "amazon.nova-pro-v1:0", "x"])
        ),
        "dataset_id": _maybe(st.from_regex(r"ds-[a-z0-9]{1,8}", fullmatch=True)),
        "output_model_name": _maybe(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)),
    },
    optional={
        "technique": _maybe(st.sampled_from(["lora", "full"])),
        "teacher_model": _maybe(st.sampled_from(["amazon.nova-premier-v1:0", "amazon.nova-pro-v1:0"])),
        "hyperparameters": _maybe(
            st.dictionaries(
                st.sampled_from(sorted({name for bounds in HYPERPARAMETERS.values() for name in bounds})),
                NUMBERS,
                max_size=5,
            )
        ),
    },
)
REQUESTS = st.one_of(
    st.fixed_dictionaries(
        {
            "pipeline": st.just("preprocess"),
            "input": st.fixed_dictionaries(
                {"text": _maybe(st.text(min_size=1))}, optional={"chunk_tokens": _maybe(NUMBERS)}
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "pipeline": st.just("invoke"),
            "input": st.fixed_dictionaries(
                {"prompt": _maybe(st.text(min_size=1))},
                optional={
                    "inference": _maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "max_tokens": _maybe(NUMBERS),
                                "temperature": _maybe(NUMBERS),
                                "top_p": _maybe(NUMBERS),
                                "stop_sequences": _maybe(st.lists(st.text(max_size=70), max_size=5)),
                            },
                        )
                    ),
                    "session_id": _maybe(st.text(max_size=140)),
                    "system_prompt": _maybe(st.text(max_size=40)),
                    "preprocess": _maybe(st.fixed_dictionaries({"text": _maybe(st.text(min_size=1))})),
                },
            ),
        }
    ),
    st.fixed_dictionaries({"pipeline": st.just("customize"), "input": CUSTOMIZE_INPUTS}),
    st.fixed_dictionaries({"pipeline": JSON_VALUES, "input": JSON_VALUES}),
    JSON_VALUES,
)


def _finite(value: Any) -> bool:
    """Every number in a JSON-able value is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True


# -- the request models --------------------------------------------------------------------------------


@HOSTILE
@given(body=REQUESTS)
def test_a_request_body_is_either_a_valid_request_or_a_validation_error(body: Any) -> None:
    try:
        request = SUBMIT.validate_python(body)
    except ValidationError:
        return
    dumped = request.model_dump(mode="json")
    json.dumps(dumped, allow_nan=False)  # what the hub carries is strict JSON: no NaN, no infinity
    assert _finite(dumped)
    assert stages_of(request)
    assert SUBMIT.validate_python(dumped) == request  # what the front door publishes reads back the same


@HOSTILE
@given(text=st.one_of(st.text(max_size=300), REQUESTS.map(lambda body: json.dumps(body, allow_nan=True))))
def test_request_text_is_either_a_valid_request_or_a_validation_error(text: str) -> None:
    with contextlib.suppress(ValidationError):
        SUBMIT.validate_json(text)


@HOSTILE
@given(body=CUSTOMIZE_INPUTS)
def test_a_customization_is_either_planned_within_bounds_or_refused_naming_its_field(body: Any) -> None:
    try:
        request = CustomizeInput.model_validate(body)
    except ValidationError:
        return
    refused: UnsupportedCustomization | None = None
    try:
        backend_for(request)
        values = hyperparameters_for(request)
    except UnsupportedCustomization as error:
        refused = error
    if refused is not None:
        assert refused.field.startswith("input")
        assert refused.problem
        return
    bounds = HYPERPARAMETERS[request.method]
    for name, value in values.items():
        assert bounds[name].low <= value <= bounds[name].high
        assert isinstance(value, int) == bounds[name].integer


# -- the hub envelope ------------------------------------------------------------------------------------

EVENTS = st.builds(
    new_event,
    event_type=st.from_regex(r"[a-z][a-z_]{0,10}\.[a-z][a-z_]{0,10}", fullmatch=True),
    request_id=st.uuids().map(str),
    pipeline=st.sampled_from(["preprocess", "invoke", "customize"]),
    source=st.text(min_size=1, max_size=20),
    subject=st.text(min_size=1, max_size=40),
    payload=st.dictionaries(st.text(max_size=8), JSON_VALUES.filter(_finite), max_size=4),
    sequence=st.integers(min_value=0, max_value=50),
    first_stage=st.none() | st.sampled_from(["preprocess", "invoke", "customization"]),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
)


def _notification(message: str) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:t", "Message": message})


@HOSTILE
@given(event=EVENTS)
def test_every_envelope_reads_back_from_its_sns_notification_as_it_was_sent(event: HubEvent) -> None:
    received = parse_notification(_notification(event.model_dump_json()))

    assert received == event
    assert (received.stage, received.outcome) == tuple(event.event_type.split(".", 1))


@HOSTILE
@given(
    body=st.one_of(
        st.text(max_size=200), JSON_VALUES.map(json.dumps), EVENTS.map(lambda e: e.model_dump_json())
    )
)
def test_a_hub_message_is_either_an_envelope_or_a_validation_error(body: str) -> None:
    """What arrives in a subscriber's queue may be anything: a poison message fails with
    ValidationError (so the batch reports that one item), never with something else."""
    for sqs_body in (body, _notification(body)):
        with contextlib.suppress(ValidationError):
            parse_notification(sqs_body)


@HOSTILE
@given(fields=st.dictionaries(st.sampled_from(sorted(HubEvent.model_fields)), JSON_VALUES, max_size=12))
def test_an_envelope_built_from_anything_is_valid_or_a_validation_error(fields: dict[str, Any]) -> None:
    try:
        event = HubEvent.model_validate(fields)
    except ValidationError:
        return
    assert (event.payload is None) != (event.payload_ref is None)
    assert isinstance(event.occurred_at, datetime)


# -- the dataset validator --------------------------------------------------------------------------------

RECORDS = st.one_of(
    st.fixed_dictionaries(
        {
            "schemaVersion": _maybe(st.just("bedrock-conversation-2024")),
            "messages": _maybe(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "role": _maybe(st.sampled_from(["user", "assistant"])),
                            "content": _maybe(st.lists(st.fixed_dictionaries({"text": _maybe(st.text())}))),
                        }
                    ),
                    max_size=4,
                )
            ),
        },
        optional={"system": _maybe(st.lists(st.fixed_dictionaries({"text": _maybe(st.text())}), max_size=2))},
    ),
    st.fixed_dictionaries(
        {},
        optional={
            name: _maybe(st.text(max_size=50))
            for name in ("prompt", "chosen", "rejected", "reference_answer", "text", "system")
        },
    ),
    JSON_VALUES,
)
LINES = st.one_of(
    RECORDS.map(lambda record: json.dumps(record, allow_nan=True).encode()),
    st.binary(max_size=80),
    st.text(max_size=80).map(str.encode),
    st.just(b""),
)


@HOSTILE
@given(lines=st.lists(LINES, max_size=25), method=st.sampled_from(list(Method)))
def test_a_dataset_is_always_a_report_never_an_exception(lines: list[bytes], method: Method) -> None:
    report = validate_lines(iter(lines), method, sum(len(line) for line in lines))

    assert report.records <= len(lines)
    assert len(report.errors) <= MAX_REPORTED_ERRORS
    assert all(error["line"] is None or 1 <= error["line"] <= len(lines) for error in report.errors)
    assert report.valid == (not report.errors)
    json.dumps(report.as_dict())  # the report travels in a hub event: it must be JSON


def test_a_line_nested_too_deep_to_parse_is_a_line_of_the_report() -> None:
    report = validate_lines(iter([b"[" * 100_000]), Method.CPT, 100_000)

    assert report.errors[0]["line"] == 1
    assert report.errors[0]["problem"] == "not valid JSON: nested too deep to read"
