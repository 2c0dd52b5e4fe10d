"""The template deployed into the local cloud's emulator, for measuring one function at a time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agenthub.local.cloud import ACCOUNT_ID, samconfig_overrides
from agenthub.local.deploy import Deployer, Stack
from agenthub.local.emulator import Emulator
from agenthub.template import DEFAULT_TEMPLATE, translate

REGION = "us-east-1"


def log_emulator_to(path: Path) -> None:
    """moto reports every error it answers at ERROR level: keep it out of the bench's table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    moto_log = logging.getLogger("moto")
    moto_log.addHandler(handler)
    moto_log.propagate = False


@contextmanager
def emulated_stack(stack_name: str, work: Path) -> Iterator[tuple[Emulator, Stack]]:
    """The template deployed into an emulator on loopback whose executions only record their start."""
    log_emulator_to(work / "logs" / "emulator.log")
    translation = translate(DEFAULT_TEMPLATE, samconfig_overrides(), REGION)
    emulator = Emulator(REGION, ACCOUNT_ID)
    emulator.start(execute_state_machines=False)
    try:
        yield emulator, Deployer(translation, emulator.client, stack_name, REGION, ACCOUNT_ID).deploy()
    finally:
        emulator.stop()
