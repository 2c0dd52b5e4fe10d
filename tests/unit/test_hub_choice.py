"""Which hub a client command means, and the flags a printed command needs to mean the same one."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenthub import client_commands
from agenthub.hub_access import DEFAULT_STACK, Hub, Target, TokenCache, resolve_target

STACKS = st.sampled_from(["agent-hub", "prod-hub", "team-a"])
REGIONS = st.none() | st.sampled_from(["us-east-1", "eu-west-1"])
TARGETS = st.builds(Target, local=st.just(True)) | st.builds(Target, stack=STACKS, region=REGIONS)
ENVIRONMENTS = st.fixed_dictionaries({}, optional={"AGENTHUB_STACK": STACKS})


def from_flags(flags: tuple[str, ...], remembered: Target | None, environment: dict[str, str]) -> Target:
    """What a command typed with these flags means, parsed as the CLI parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--local", action="store_true")
    parser.add_argument("--stack")
    parser.add_argument("--region")
    parsed = parser.parse_args(list(flags))
    return resolve_target(parsed.local, parsed.stack, parsed.region, remembered, environment)


@given(target=TARGETS, remembered=st.none() | TARGETS, environment=ENVIRONMENTS)
def test_a_targets_flags_mean_it_whatever_was_remembered_and_set(
    target: Target, remembered: Target | None, environment: dict[str, str]
) -> None:
    assert from_flags(target.flags(), remembered, environment) == target


@given(remembered=st.none() | TARGETS, environment=ENVIRONMENTS)
def test_without_flags_a_command_means_the_environments_stack_then_the_last_login_then_agent_hub(
    remembered: Target | None, environment: dict[str, str]
) -> None:
    meant = resolve_target(False, None, None, remembered, environment)

    if "AGENTHUB_STACK" in environment:
        assert meant == Target(stack=environment["AGENTHUB_STACK"])
    elif remembered is not None:
        assert meant == remembered
    else:
        assert meant == Target(stack=DEFAULT_STACK)


@given(target=TARGETS)
def test_a_remembered_target_reads_back_as_it_was_written(target: Target) -> None:
    assert Target.of_json(target.as_json()) == target


@pytest.mark.parametrize("written", ["not json", '["local"]', '{"stack": 7}', '{"local": "yes"}', ""])
def test_an_unreadable_last_login_means_no_last_login(tmp_path: Path, written: str) -> None:
    cache = TokenCache(tmp_path)
    cache.last_path.write_text(written)

    assert cache.last_target() is None


def args(**flags: object) -> argparse.Namespace:
    return argparse.Namespace(**{"local": False, "stack": None, "region": None, **flags})


@given(target=TARGETS, remembered=st.none() | TARGETS, environment=ENVIRONMENTS)
def test_a_hubs_printed_commands_carry_flags_only_when_plain_commands_mean_another_hub(
    target: Target, remembered: Target | None, environment: dict[str, str]
) -> None:
    found: list[Target] = []

    def hub_for(meant: Target) -> Hub:
        found.append(meant)
        return Hub("hub", "http://127.0.0.1:1/prod", "http://127.0.0.1:1/oauth2/token", "client", None)

    with pytest.MonkeyPatch.context() as patch, TemporaryCache(remembered) as cache:
        patch.setattr(client_commands.os, "environ", environment)
        patch.setattr(client_commands, "local_hub", lambda _: hub_for(Target(local=True)))
        patch.setattr(
            client_commands, "deployed_hub", lambda stack, region: hub_for(Target(stack=stack, region=region))
        )
        hub = client_commands.find_hub(
            args(**dict(zip(("local", "stack", "region"), flag_values(target), strict=True))), cache
        )

    assert found == [target]
    plain = resolve_target(False, None, None, remembered, environment)
    assert hub.command("watch", "r-1") == " ".join(
        ["agenthub", "watch", "r-1", *(() if plain == target else target.flags())]
    )
    # Typed as printed, the command means the same hub.
    assert from_flags(tuple(hub.command("watch", "r-1").split()[3:]), remembered, environment) == target


def flag_values(target: Target) -> tuple[bool, str | None, str | None]:
    return (True, None, None) if target.local else (False, target.stack, target.region)


class TemporaryCache:
    """A token cache in a folder of its own, with `remembered` as its last login."""

    def __init__(self, remembered: Target | None) -> None:
        import tempfile

        self._folder = tempfile.TemporaryDirectory()
        self._remembered = remembered

    def __enter__(self) -> TokenCache:
        cache = TokenCache(Path(self._folder.name))
        if self._remembered is not None:
            cache.remember(self._remembered)
        return cache

    def __exit__(self, *_: object) -> None:
        self._folder.cleanup()
