"""The endpoint table, the generated methods and the client agree (and match the reference TSV when present)."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

from bybitfast.rest import _methods
from bybitfast.rest.endpoints import BY_NAME, ENDPOINTS, UNSIGNED_PATHS, _ROWS

ROOT = Path(__file__).resolve().parent.parent
TSV = ROOT.parent / "shared" / "reference" / "rest-endpoints.tsv"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_endpoints", ROOT / "tools" / "gen_endpoints.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table_shape():
    assert len(ENDPOINTS) == 411
    assert len({(e.verb, e.path) for e in ENDPOINTS}) == 405
    assert len(BY_NAME) == 411
    assert {e.verb for e in ENDPOINTS} == {"GET", "POST"}
    assert sum(e.auth == "public" for e in ENDPOINTS) == 55
    assert all(e.path.startswith("/v5/") for e in ENDPOINTS)


def test_system_status_is_unsigned_although_the_table_says_private():
    ep = BY_NAME["get_system_status"]
    assert ep.auth == "private" and not ep.signed and ep.path in UNSIGNED_PATHS
    assert BY_NAME["get_wallet_balance"].signed
    assert not BY_NAME["get_tickers"].signed


def test_two_names_for_one_path_both_exist():
    from bybitfast import RestClientV5

    assert BY_NAME["get_option_delivery_price"].path == BY_NAME["get_delivery_price"].path
    assert callable(RestClientV5.get_option_delivery_price) and callable(RestClientV5.get_delivery_price)


def test_generated_methods_are_up_to_date():
    gen = _generator()
    from bybitfast.rest.endpoints import MULTIPART_PATHS

    expected = gen.render_methods(_ROWS, UNSIGNED_PATHS, MULTIPART_PATHS)
    assert Path(_methods.__file__).read_text(encoding="utf-8") == expected, "run tools/gen_endpoints.py"


def test_every_row_is_a_documented_async_method():
    from bybitfast import RestClientV5

    names = set(dir(RestClientV5))
    for ep in ENDPOINTS:
        assert ep.name in names
        fn = getattr(RestClientV5, ep.name)
        assert inspect.iscoroutinefunction(fn)
        assert ep.path in fn.__doc__ and ep.verb in fn.__doc__ and ep.sdk_name in fn.__doc__


@pytest.mark.skipif(not TSV.exists(), reason="shared reference TSV not beside the repository")
def test_table_matches_reference_tsv():
    gen = _generator()
    assert tuple(gen.read_tsv(TSV)) == _ROWS
