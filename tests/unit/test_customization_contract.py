"""The customization capability table and hyperparameter bounds: one table routes and refuses."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from agenthub import PROJECT_ROOT
from contracts.customization import (
    CAPABILITIES,
    HYPERPARAMETERS,
    NOVA_UNDERSTANDING,
    PREMIER,
    TEACHERS,
    Backend,
    CustomizeInput,
    Method,
    Technique,
    UnsupportedCustomization,
    backend_for,
    capability_table_markdown,
    hyperparameters_for,
)


def customize(**fields: Any) -> CustomizeInput:
    method = fields.get("method", "sft")
    defaults: dict[str, Any] = {
        "method": method,
        "technique": "lora",
        "base_model": "amazon.nova-lite-v1:0",
        "dataset_id": "ds-1",
        "output_model_name": "m",
    }
    if method == "distillation":
        defaults["teacher_model"] = PREMIER
    return CustomizeInput.model_validate({**defaults, **fields})


@pytest.mark.parametrize(("key", "backend"), sorted(CAPABILITIES.items()))
def test_every_supported_combination_routes_to_its_backend(
    key: tuple[Method, Technique, str], backend: Backend
) -> None:
    method, technique, model = key

    request = customize(method=method.value, technique=technique.value, base_model=model)

    assert backend_for(request) == backend
    assert hyperparameters_for(request)  # the defaults are within bounds


UNSUPPORTED = [
    (method, technique, model)
    for method, technique, model in itertools.product(Method, Technique, (*NOVA_UNDERSTANDING, PREMIER))
    if (method, technique, model) not in CAPABILITIES
]


@pytest.mark.parametrize(("method", "technique", "model"), UNSUPPORTED)
def test_every_unsupported_combination_is_refused_naming_what_is_supported(
    method: Method, technique: Technique, model: str
) -> None:
    request = customize(method=method.value, technique=technique.value, base_model=model)

    with pytest.raises(UnsupportedCustomization) as refused:
        backend_for(request)

    assert f"{method.value} with {technique.value} on {model} is not supported" in str(refused.value)
    supported = [f"{t.value} on {m}" for (k, t, m) in CAPABILITIES if k == method]
    assert all(option in str(refused.value) for option in supported)


def test_the_table_offers_every_method_and_both_techniques_on_both_backends() -> None:
    assert {method for method, _, _ in CAPABILITIES} == set(Method)
    assert {technique for _, technique, _ in CAPABILITIES} == set(Technique)
    assert set(CAPABILITIES.values()) == set(Backend)


def test_distillation_needs_a_larger_teacher() -> None:
    with pytest.raises(UnsupportedCustomization, match="cannot teach"):
        backend_for(
            customize(
                method="distillation",
                base_model="amazon.nova-pro-v1:0",
                teacher_model="amazon.nova-lite-v1:0",
            )
        )
    assert backend_for(
        customize(
            method="distillation",
            base_model="amazon.nova-micro-v1:0",
            teacher_model=TEACHERS["amazon.nova-micro-v1:0"][0],
        )
    )


def test_a_teacher_is_for_distillation_only() -> None:
    with pytest.raises(ValueError, match="teacher_model is required for distillation and only"):
        customize(method="sft", teacher_model=PREMIER)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"hyperparameters": {"epochs": 9}}, "outside 1..5"),
        ({"hyperparameters": {"epochs": 2.5}}, "whole number"),
        ({"hyperparameters": {"learning_rate": 1}}, "outside"),
        ({"hyperparameters": {"momentum": 0.9}}, "unknown for sft: momentum"),
        ({"hyperparameters": {"lora_rank": 8}}, "not adjustable for lora on bedrock"),
        ({"technique": "full", "hyperparameters": {"lora_rank": 8}}, "not adjustable for full on sagemaker"),
        ({"method": "dpo", "technique": "lora", "hyperparameters": {"beta": 2}}, "outside 0.01..1"),
    ],
)
def test_hyperparameters_are_checked_against_their_methods_bounds(
    fields: dict[str, Any], problem: str
) -> None:
    with pytest.raises(UnsupportedCustomization, match=problem):
        hyperparameters_for(customize(**fields))


def test_defaults_fill_in_and_given_values_are_kept() -> None:
    values = hyperparameters_for(
        customize(method="dpo", technique="lora", hyperparameters={"epochs": 3, "beta": 0.2})
    )

    assert values["epochs"] == 3
    assert values["beta"] == 0.2
    assert values["lora_rank"] == HYPERPARAMETERS[Method.DPO]["lora_rank"].default


def test_the_readme_prints_the_capability_table_from_the_code() -> None:
    assert capability_table_markdown() in (PROJECT_ROOT / "README.md").read_text()
