"""Typed configuration from environment variables, parsed once and failing fast by name."""

from __future__ import annotations

import os
from functools import cache
from typing import Annotated, Any, TypeVar, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError


class ConfigError(RuntimeError):
    """The function was deployed without a setting it needs."""


def _split_commas(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


# A list setting, given as one comma-separated variable (how a CommaDelimitedList parameter arrives).
CommaList = Annotated[list[str], BeforeValidator(_split_commas)]


class Settings(BaseModel):
    """Base for a function's settings: fields are read from the environment variable of the same name."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class LakeSettings(Settings):
    """A function that reads or writes the data lake."""

    DATA_LAKE_BUCKET: str


class HubSettings(LakeSettings):
    """A function that publishes to the hub (whose claim checks go to the lake)."""

    HUB_TOPIC_ARN: str


SettingsT = TypeVar("SettingsT", bound=Settings)


def load_settings(model: type[SettingsT]) -> SettingsT:
    """Parses the environment into `model` once, naming every missing or invalid variable at once."""
    return cast("SettingsT", _load(model))


@cache  # on a helper: functools.cache would hide the generic return type from the callers
def _load(model: type[Settings]) -> Settings:
    try:
        return model.model_validate(dict(os.environ))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        )
        raise ConfigError(f"invalid environment for {model.__name__}: {problems}") from error


def forget_settings() -> None:
    """Settings are read once per process (a cold start); a test that changes the environment
    forgets them so the next load reads it again."""
    _load.cache_clear()
