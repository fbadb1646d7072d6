"""Fixtures the unit tests share."""

import copy
from typing import Any

import pytest

from local.twin import compose as twin_compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed by the one reader the twin uses too; a copy per module, so
    a test that changes it changes nothing for another."""
    return copy.deepcopy(twin_compose.compose_file())
