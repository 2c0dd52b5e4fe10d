from __future__ import annotations

from collections.abc import Iterator

import pytest

from agenthub.local.deploy import Stack
from tests.support.moto_stack import FunctionRunner, deployed_stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    with deployed_stack() as deployed:
        yield deployed


@pytest.fixture
def functions(stack: Stack) -> Iterator[FunctionRunner]:
    runner = FunctionRunner(stack)
    yield runner
    runner.close()
