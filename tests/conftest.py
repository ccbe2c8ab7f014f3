"""Shared test helpers. Fixtures from ../shared/fixtures/bybit are vendored under tests/fixtures/bybit."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "bybit"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
