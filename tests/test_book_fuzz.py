"""Short run of the differential fuzzer (tests/fuzz/fuzz_book.py); the long run is manual."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
import fuzz_book  # noqa: E402


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_native_matches_reference(seed):
    assert fuzz_book.run(4000, seed, log_every=0) >= 4000


def test_fuzz_per_value_parser_matches_reference():
    from bybitfast import _book

    prev = _book._set_block_parser(False)
    try:
        assert fuzz_book.run(4000, 4, log_every=0) >= 4000
    finally:
        _book._set_block_parser(prev)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("BYBITFAST_SLOW"), reason="set BYBITFAST_SLOW=1")
def test_fuzz_long():
    assert fuzz_book.run(300_000, 12345, log_every=0) >= 300_000
