"""Fixtures for callback tests: the records fixtures (products), the shipped scripts, a clock."""

import pytest

from huifang.callbacks.scripts import script_packs_load
from tests.callbacks.factories import local
from tests.records.conftest import products  # noqa: F401  (fixture, re-exported for this package)


@pytest.fixture
def shipped_scripts(db):
    """The shipped scripts, published (the data migration did it; loading again changes nothing)."""
    return {result.script.code: result.script for result in script_packs_load(audit=False)}


@pytest.fixture
def clock(time_machine):
    """Tuesday 2026-02-10 15:00 in Shanghai, a working day inside the first policies' cooling-off."""
    time_machine.move_to(local(2026, 2, 10, 15, 0), tick=False)
    return time_machine
