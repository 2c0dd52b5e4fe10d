from __future__ import annotations

import typing

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.requests import (
    FINAL_STAGE,
    PIPELINES,
    AnyRequest,
    InvokeRequest,
    PreprocessInput,
    PreprocessRequest,
    SubmitRequest,
    preprocess_input_of,
    stages_of,
)
from shared.config import ConfigError, Settings, forget_settings, load_settings

submit = TypeAdapter(SubmitRequest)


def test_a_chained_invoke_runs_preprocess_first() -> None:
    chained = submit.validate_python(
        {"pipeline": "invoke", "input": {"prompt": "Summarise", "preprocess": {"text": "long document"}}}
    )
    plain = submit.validate_python({"pipeline": "invoke", "input": {"prompt": "hi"}})

    assert isinstance(chained, InvokeRequest)
    assert stages_of(chained) == ("preprocess", "invoke")
    assert stages_of(plain) == ("invoke",)
    assert preprocess_input_of("invoke", chained.input.model_dump()) == PreprocessInput(text="long document")


def test_preprocess_reads_its_own_input_and_refuses_a_request_without_a_preprocess_stage() -> None:
    request = submit.validate_python({"pipeline": "preprocess", "input": {"text": "a", "chunk_tokens": 100}})

    assert isinstance(request, PreprocessRequest)
    assert preprocess_input_of("preprocess", request.input.model_dump()).chunk_tokens == 100
    with pytest.raises(ValueError, match="no preprocess stage"):
        preprocess_input_of("invoke", {"prompt": "hi"})


def test_every_pipeline_has_a_request_model_and_a_final_stage() -> None:
    variants = typing.get_args(AnyRequest)
    tags = {variant.model_fields["pipeline"].annotation.__args__[0] for variant in variants}
    assert tags == set(PIPELINES) == set(FINAL_STAGE)


def test_unknown_fields_are_refused_rather_than_ignored() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        submit.validate_python({"pipeline": "invoke", "input": {"prompt": "hi", "max_token": 5}})


class ExampleSettings(Settings):
    HUB_TOPIC_ARN: str
    DEDUPE_WINDOW_SECONDS: int


def test_settings_name_every_missing_or_invalid_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_TOPIC_ARN", raising=False)
    monkeypatch.setenv("DEDUPE_WINDOW_SECONDS", "soon")
    forget_settings()

    with pytest.raises(ConfigError) as error:
        load_settings(ExampleSettings)

    assert "HUB_TOPIC_ARN: Field required" in str(error.value)
    assert "DEDUPE_WINDOW_SECONDS" in str(error.value)
    forget_settings()
