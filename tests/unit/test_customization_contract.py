"""The customization capability table and hyperparameter bounds: one table routes and refuses."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from agenthub import PROJECT_ROOT
from contracts.customization import (
    CAPABILITIES,
    CUSTOMIZATION_BASE_MODEL,
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


@pytest.mark.parametrize(("key", "backends"), sorted(CAPABILITIES.items()))
def test_every_supported_combination_routes_to_each_of_its_backends(
    key: tuple[Method, Technique, str], backends: tuple[Backend, ...]
) -> None:
    method, technique, model = key

    default = customize(method=method.value, technique=technique.value, base_model=model)

    assert backend_for(default) == backends[0]
    for backend in backends:
        chosen = customize(method=method.value, technique=technique.value, base_model=model, backend=backend)
        assert backend_for(chosen) == backend
        assert hyperparameters_for(chosen)  # the defaults are within bounds
    for backend in set(Backend) - set(backends):
        with pytest.raises(UnsupportedCustomization, match=f"not {backend.value}"):
            backend_for(
                customize(method=method.value, technique=technique.value, base_model=model, backend=backend)
            )


# Where each method runs, row by row, as the documentation cited in the capability table says.
DOCUMENTED_ROUTES = [
    ("sft", "lora", "amazon.nova-lite-v1:0", ("bedrock", "sagemaker")),
    ("sft", "full", "amazon.nova-pro-v1:0", ("sagemaker",)),
    ("dpo", "lora", "amazon.nova-micro-v1:0", ("sagemaker",)),
    ("dpo", "full", "amazon.nova-lite-v1:0", ("sagemaker",)),
    ("sft", "lora", "amazon.nova-2-lite-v1:0", ("bedrock", "sagemaker")),
    ("sft", "full", "amazon.nova-2-lite-v1:0", ("sagemaker",)),
    ("rft", "lora", "amazon.nova-2-lite-v1:0", ("bedrock",)),
    ("rft_multi_turn", "full", "amazon.nova-2-lite-v1:0", ("hyperpod",)),
    ("cpt", "full", "amazon.nova-2-lite-v1:0", ("hyperpod",)),
    ("cpt", "full", "amazon.nova-micro-v1:0", ("hyperpod",)),
    ("ppo", "full", "amazon.nova-lite-v1:0", ("hyperpod",)),
    ("distillation", "lora", "amazon.nova-pro-v1:0", ("bedrock",)),
]


@pytest.mark.parametrize(("method", "technique", "model", "backends"), DOCUMENTED_ROUTES)
def test_methods_run_where_the_documentation_says(
    method: str, technique: str, model: str, backends: tuple[str, ...]
) -> None:
    assert CAPABILITIES[(Method(method), Technique(technique), model)] == tuple(Backend(b) for b in backends)


def test_nova_1_takes_no_rft_and_nova_2_lite_no_dpo() -> None:
    assert (Method.RFT, Technique.LORA, "amazon.nova-lite-v1:0") not in CAPABILITIES
    assert not [key for key in CAPABILITIES if key[0] == Method.DPO and key[2] == "amazon.nova-2-lite-v1:0"]


def test_every_base_model_has_its_context_length_suffix_for_the_customization_apis() -> None:
    assert CUSTOMIZATION_BASE_MODEL == {
        "amazon.nova-micro-v1:0": "amazon.nova-micro-v1:0:128k",
        "amazon.nova-lite-v1:0": "amazon.nova-lite-v1:0:300k",
        "amazon.nova-pro-v1:0": "amazon.nova-pro-v1:0:300k",
        "amazon.nova-2-lite-v1:0": "amazon.nova-2-lite-v1:0:256k",
    }
    assert {model for _, _, model in CAPABILITIES} == set(CUSTOMIZATION_BASE_MODEL)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"method": "sft", "technique": "full", "deploy": True},
            "this job trains amazon.nova-lite-v1:0 on sagemaker",
        ),
        ({"method": "sft", "base_model": "amazon.nova-2-lite-v1:0", "deploy": True}, "on-demand deployment"),
    ],
)
def test_deploying_is_offered_only_where_bedrock_deploys_on_demand(
    fields: dict[str, Any], problem: str
) -> None:
    with pytest.raises(UnsupportedCustomization, match=problem) as refused:
        backend_for(customize(**fields))

    assert refused.value.field == "input.deploy"
    assert backend_for(customize(method="sft", deploy=True)) == Backend.BEDROCK


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
    assert {backend for backends in CAPABILITIES.values() for backend in backends} == set(Backend)


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
        ({"backend": "sagemaker", "hyperparameters": {"lora_rank": 8}}, None),
        ({"method": "dpo", "technique": "lora", "hyperparameters": {"beta": 2}}, "outside 0.01..1"),
    ],
)
def test_hyperparameters_are_checked_against_their_methods_bounds(
    fields: dict[str, Any], problem: str | None
) -> None:
    if problem is None:  # adjustable where the job runs
        assert hyperparameters_for(customize(**fields))["lora_rank"] == 8
        return
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
