"""Sample events' `${...}` names, SAM's --env-vars file, and the requests an invocation concerns."""

from __future__ import annotations

import difflib
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agenthub import PROJECT_ROOT
from agenthub.local.follow import request_ids_in
from agenthub.local.invoke import InvokeError, environment_overrides
from agenthub.local.sample_events import (
    EVENTS_DIR,
    FreshIds,
    Names,
    UnknownName,
    is_project_sample,
    is_sample_event,
    load_event,
    resolve,
)

NAMES = Names(
    resources={
        "DataLakeBucket": {"Type": "AWS::S3::Bucket", "Ref": "lake-123", "Arn": "arn:aws:s3:::lake-123"},
        "CoreWriterSubscriber": {
            "Type": "AWS::CloudFormation::Stack",
            "Ref": "stack-id",
            "Outputs.QueueArn": "q",
        },
        "CoreWriterSubscriber.Queue": {
            "Type": "AWS::SQS::Queue",
            "Ref": "https://queue/url",
            "Arn": "arn:aws:sqs:us-east-1:123456789012:queue",
        },
    },
    outputs={"ApiUrl": "http://127.0.0.1:3000/prod", "DataLakeBucket": "lake-123"},
    pseudo={"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"},
)


def test_a_name_resolves_to_its_ref_attribute_nested_resource_or_output() -> None:
    event = {
        "ref": "s3://${DataLakeBucket}/work/x.txt",
        "attribute": "${DataLakeBucket.Arn}",
        "nested": ["${CoreWriterSubscriber.Queue}", "${CoreWriterSubscriber.Queue.Arn}"],
        "nested_output": "${CoreWriterSubscriber.Outputs.QueueArn}",
        "output": "${ApiUrl}/v1/requests",
        "pseudo": "arn:aws:sns:${AWS::Region}:${AWS::AccountId}:topic",
        "literal": "${!NotAName}",
        "untouched": 3,
    }

    assert resolve(event, NAMES) == {
        "ref": "s3://lake-123/work/x.txt",
        "attribute": "arn:aws:s3:::lake-123",
        "nested": ["https://queue/url", "arn:aws:sqs:us-east-1:123456789012:queue"],
        "nested_output": "q",
        "output": "http://127.0.0.1:3000/prod/v1/requests",
        "pseudo": "arn:aws:sns:us-east-1:123456789012:topic",
        "literal": "${NotAName}",
        "untouched": 3,
    }


def test_names_inside_json_held_in_a_string_resolve_and_it_stays_json() -> None:
    body = json.dumps(
        {"TopicArn": "${CoreWriterSubscriber.Queue.Arn}", "Message": json.dumps({"b": "${DataLakeBucket}"})}
    )

    resolved = json.loads(resolve({"body": body}, NAMES)["body"])

    assert resolved["TopicArn"] == "arn:aws:sqs:us-east-1:123456789012:queue"
    assert json.loads(resolved["Message"]) == {"b": "lake-123"}


def test_a_name_the_stack_lacks_is_an_error_that_suggests_the_closest() -> None:
    with pytest.raises(UnknownName, match=r"\$\{DataLakeBuckt\} names nothing.*did you mean DataLakeBucket"):
        resolve({"bucket": "${DataLakeBuckt}"}, NAMES)


LOGICAL_IDS = st.from_regex(r"[A-Z][A-Za-z0-9]{2,20}", fullmatch=True)


@given(
    resources=st.lists(LOGICAL_IDS, min_size=1, max_size=8, unique=True),
    outputs=st.lists(LOGICAL_IDS, max_size=8, unique=True),
    data=st.data(),
)
def test_the_suggestions_for_an_unknown_name_name_each_candidate_once(
    resources: list[str], outputs: list[str], data: st.DataObject
) -> None:
    # Stacks export many of their resources as outputs of the same name (DataLakeBucket).
    outputs = [*outputs, *data.draw(st.lists(st.sampled_from(resources), max_size=len(resources)))]
    names = Names(
        resources={name: {"Type": "AWS::S3::Bucket", "Ref": name.lower()} for name in resources},
        outputs=dict.fromkeys(outputs, "value"),
    )
    typo = data.draw(st.sampled_from(resources)) + "x"
    assume(typo not in resources and typo not in outputs)

    with pytest.raises(UnknownName) as raised:
        names.value(typo)

    message = str(raised.value)
    assert message.startswith(f"${{{typo}}} names nothing in the deployed stack")
    if "did you mean" in message:
        suggested = message.split("did you mean ", 1)[1].rstrip("?)").split(", ")
        assert len(suggested) == len(set(suggested)), message
        assert set(suggested) <= {*resources, *outputs}
    else:
        assert not difflib.get_close_matches(typo, [*resources, *outputs], n=1)


def test_every_sample_event_file_is_json_and_every_data_file_is_used() -> None:
    files = [path for path in EVENTS_DIR.rglob("*") if path.is_file()]
    sidecars = "".join(path.read_text() for path in files if path.name.endswith(".needs.json"))
    demo = (EVENTS_DIR.parent / "agenthub" / "demo.py").read_text()

    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text())
        else:  # a data file: some event needs it, or the demo sends it
            assert path.name in sidecars or path.name in demo, f"nothing uses {path}"
    assert sum(is_sample_event(path) for path in files) >= 21


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "env.json"
    path.write_text(json.dumps(document))
    return path


def test_env_vars_take_the_functions_own_entry_over_parameters(tmp_path: Path) -> None:
    env_vars = write(
        tmp_path,
        {
            "Parameters": {"TABLE": "global", "STAGE": "dev"},
            "MyFunction": {"TABLE": "mine", "DEBUG": True, "LIMIT": 3},
            "Other": {"TABLE": "theirs"},
        },
    )

    assert environment_overrides(env_vars, "MyFunction", "stack-MyFunction-ABC") == {
        "TABLE": "mine",
        "STAGE": "dev",
        "DEBUG": "true",
        "LIMIT": "3",
    }
    assert environment_overrides(env_vars, "Unnamed", "stack-Unnamed-1") == {
        "TABLE": "global",
        "STAGE": "dev",
    }


def test_env_vars_may_name_the_function_by_its_function_name(tmp_path: Path) -> None:
    env_vars = write(tmp_path, {"stack-MyFunction-ABC": {"TABLE": "by-name"}})

    assert environment_overrides(env_vars, "MyFunction", "stack-MyFunction-ABC") == {"TABLE": "by-name"}


def test_an_env_vars_file_in_another_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvokeError, match="expected"):
        environment_overrides(write(tmp_path, {"TABLE": "flat"}), "MyFunction", "name")


def test_the_requests_of_an_invocation_are_found_in_json_inside_strings() -> None:
    record = {"body": json.dumps({"Message": json.dumps({"request_id": "r-inner"})})}
    api_response = {"statusCode": 202, "body": json.dumps({"request_id": "r-accepted"})}

    assert request_ids_in({"Records": [record]}) == {"r-inner"}
    assert request_ids_in(api_response) == {"r-accepted"}
    assert request_ids_in({"body": "{not json", "request_id": 7}) == set()


UUIDS = st.uuids().map(str)


@given(ids=st.lists(UUIDS, min_size=1, max_size=6), words=st.lists(st.text(max_size=12), max_size=6))
def test_fresh_ids_replace_every_uuid_consistently_and_give_the_answer_back_as_written(
    ids: list[str], words: list[str]
) -> None:
    # The same ids in an event and in what it needs first, among other text, in JSON inside strings.
    event = {"request_id": ids[0], "body": json.dumps({"ids": ids, "words": words}), "key": f"k-{ids[-1]}"}
    needs = {"objects": [{"key": f"work/{ids[-1]}/chunk-0000.txt", "text": " ".join(words)}]}
    fresh = FreshIds()

    renamed_event = json.loads(fresh(json.dumps(event)))
    renamed_needs = json.loads(fresh(json.dumps(needs)))

    new = fresh.renamed
    assert set(new) == {sample.lower() for sample in ids}
    assert len(set(new.values())) == len(new)  # a new id for each, never shared
    assert not set(new.values()) & set(new)
    assert renamed_event["request_id"] == new[ids[0]]
    assert json.loads(renamed_event["body"]) == {"ids": [new[i] for i in ids], "words": words}
    assert renamed_needs["objects"][0]["key"] == f"work/{new[ids[-1]]}/chunk-0000.txt"
    assert fresh.as_written(renamed_event) == event
    assert fresh.as_written(renamed_needs) == needs


def test_fresh_ids_leave_the_deployments_own_names_alone(tmp_path: Path) -> None:
    # A name the deployment gives may hold a UUID (an SNS subscription's ARN): it is not the sample's.
    subscription = "arn:aws:sns:us-east-1:123456789012:hub:0f3e2d1c-0000-4000-8000-000000000001"
    names = Names(resources={"Subscription": {"Type": "AWS::SNS::Subscription", "Ref": subscription}})
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"subscription": "${Subscription}", "request_id": str(uuid.uuid4())}))
    fresh = FreshIds()

    loaded = load_event(event, names, fresh)

    assert loaded["subscription"] == subscription
    (new,) = fresh.renamed.values()
    assert loaded["request_id"] == new


def test_only_the_projects_own_samples_get_fresh_ids(tmp_path: Path) -> None:
    """A sample of events/ or tools/<name>/events/ is run with fresh ids; an event of the user's own
    (elsewhere, or standard input) names records they mean and runs as written."""
    own = tmp_path / "read_my_request.json"
    own.write_text("{}")

    assert is_project_sample(EVENTS_DIR / "front_door" / "get_request.json")
    assert is_project_sample(PROJECT_ROOT / "tools" / "calculator" / "events" / "tool_requested.json")
    assert not is_project_sample(own)
    assert not is_project_sample(Path("-"))
    assert not is_project_sample(None)
