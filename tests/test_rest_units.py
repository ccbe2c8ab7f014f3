"""REST client pieces without a server: golden signatures, encoding, rate-limit parsing, offset estimation."""

from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict

from bybitfast import RestClientV5
from bybitfast.errors import BybitAPIError, BybitHTTPError, ConfigurationError, InvalidParameterError
from bybitfast.rest import client as client_mod
from bybitfast.ratelimit import RateLimit, parse_rate_limit
from bybitfast.rest.ratelimit import RateLimits
from bybitfast.rest.timesync import TimeSync, estimate

# PROTOCOL.md §2.5 golden vectors.
KEY = "TESTKEY1234567890A"
SECRET = "TESTSECRET1234567890abcdefghijklmnop"


@pytest.fixture
def frozen_clock(monkeypatch):
    def freeze(ts_ms: int) -> None:
        monkeypatch.setattr(client_mod, "_time_ns", lambda: ts_ms * 1_000_000)

    return freeze


def _prepared(c: RestClientV5, name: str, params: dict):
    return c._prepare(c._route(name), params)


def test_golden_get_signature(frozen_clock):
    frozen_clock(1658384314791)
    c = RestClientV5(KEY, SECRET)
    url, body, headers = _prepared(c, "get_active_orders", {"category": "option", "symbol": "BTC-29JUL22-25000-C"})
    assert body is None
    assert url.raw_query_string == "category=option&symbol=BTC-29JUL22-25000-C"
    assert headers["X-BAPI-SIGN"] == "f5fce47bbfee090cb05dc7b2428559e3a6284d45a72697e394646f6418f3652f"
    assert headers["X-BAPI-TIMESTAMP"] == "1658384314791"
    assert headers["X-BAPI-RECV-WINDOW"] == "5000"
    assert headers["X-BAPI-API-KEY"] == KEY


def test_golden_get_cursor_is_encoded_again_and_sent_as_signed(frozen_clock):
    frozen_clock(1658384314791)
    c = RestClientV5(KEY, SECRET)
    params = {"category": "linear", "symbol": "BTCUSDT", "limit": 20, "cursor": "page_args%3D123%26symbol%3D6%26"}
    url, _, headers = _prepared(c, "get_active_orders", params)
    assert url.raw_query_string == "category=linear&symbol=BTCUSDT&limit=20&cursor=page_args%253D123%2526symbol%253D6%2526"
    assert headers["X-BAPI-SIGN"] == "e684d9c46110401c0b33a4af98366a6e9bf849705a42dc0946b83357fda909aa"


def test_golden_post_signature(frozen_clock):
    frozen_clock(1658385579423)
    c = RestClientV5(KEY, SECRET)
    order = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
             "price": "50000", "timeInForce": "GTC", "orderLinkId": "bf-0001"}
    url, body, headers = _prepared(c, "submit_order", order)
    assert body == (b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001",'
                    b'"price":"50000","timeInForce":"GTC","orderLinkId":"bf-0001"}')
    assert headers["X-BAPI-SIGN"] == "2c710151292330fd9ff8a07f1185ebd889e3ed357176607aad5733f52324f113"
    assert headers["Content-Type"] == "application/json"
    assert str(url) == "https://api.bybit.com/v5/order/create"


def test_time_offset_moves_the_timestamp(frozen_clock):
    frozen_clock(1_000_000)
    c = RestClientV5(KEY, SECRET)
    c.set_time_offset_ms(-2500)
    _, _, headers = _prepared(c, "get_wallet_balance", {"accountType": "UNIFIED"})
    assert headers["X-BAPI-TIMESTAMP"] == "997500"


def test_none_dropped_bools_and_numbers_serialised():
    c = RestClientV5(KEY, SECRET)
    url, _, _ = _prepared(c, "get_active_orders", {"category": "linear", "symbol": None, "openOnly": 0, "x": True})
    assert url.raw_query_string == "category=linear&openOnly=0&x=true"
    _, body, _ = _prepared(c, "submit_order", {"category": "linear", "price": None, "reduceOnly": False, "qty": 1.5})
    assert body == b'{"category":"linear","reduceOnly":false,"qty":1.5}'


def test_empty_post_body_is_braces_and_signed():
    c = RestClientV5(KEY, SECRET)
    _, body, headers = _prepared(c, "cancel_all_orders", {})
    assert body == b"{}" and "X-BAPI-SIGN" in headers


def test_unsigned_routes_share_static_headers_and_carry_no_auth():
    c = RestClientV5(KEY, SECRET, referer="broker-1")
    _, _, h1 = _prepared(c, "get_tickers", {"category": "linear"})
    _, _, h2 = _prepared(c, "get_system_status", {})
    assert h1 == {"Referer": "broker-1"} and "X-BAPI-SIGN" not in h2


def test_bad_parameter_is_invalid_parameter_error():
    c = RestClientV5(KEY, SECRET)
    with pytest.raises(InvalidParameterError):
        _prepared(c, "submit_order", {"qty": {1, 2}})
    with pytest.raises(InvalidParameterError):
        _prepared(c, "get_tickers", {"category": float("nan")})


def test_strict_param_validation_refuses_none():
    c = RestClientV5(KEY, SECRET, strict_param_validation=True)
    with pytest.raises(InvalidParameterError, match="symbol"):
        _prepared(c, "get_tickers", {"category": "linear", "symbol": None})


def test_private_endpoint_without_keys_is_a_configuration_error():
    c = RestClientV5()
    with pytest.raises(ConfigurationError):
        _prepared(c, "get_wallet_balance", {})
    _prepared(c, "get_system_status", {})  # public per the docs: no keys needed


def test_configuration_checks():
    with pytest.raises(ConfigurationError):
        RestClientV5("key-only")
    with pytest.raises(ConfigurationError):
        RestClientV5(KEY, SECRET, recv_window=0)
    with pytest.raises(ConfigurationError):
        RestClientV5(api_region="MARS")
    assert RestClientV5(testnet=True).base_url == "https://api-testnet.bybit.com"
    assert RestClientV5(testnet=True, demo_trading=True).base_url == "https://api-demo.bybit.com"
    assert RestClientV5(api_region="NL").base_url == "https://api.bybit.nl"
    assert RestClientV5(api_region="HK")._static_headers == {"x-refer-site-id": "HKG"}
    assert RestClientV5(demo_trading=True, base_url="http://127.0.0.1:1/").base_url == "http://127.0.0.1:1"


def test_custom_sign_message_fn():
    seen = []

    def fn(message: str, secret: str) -> str:
        seen.append((message, secret))
        return "custom-signature"

    c = RestClientV5(KEY, SECRET, sign_message_fn=fn)
    _, body, headers = _prepared(c, "submit_order", {"category": "linear"})
    assert headers["X-BAPI-SIGN"] == "custom-signature"
    assert seen[0][0].endswith(body.decode()) and seen[0][1] == SECRET
    assert SECRET not in repr(c._signer) and SECRET not in repr(c)

    async def afn(message: str, secret: str) -> str:
        return ""

    with pytest.raises(ConfigurationError):
        RestClientV5(KEY, SECRET, sign_message_fn=afn)


def test_multipart_body_is_signed_as_sent(tmp_path):
    c = RestClientV5(KEY, SECRET)
    img = tmp_path / "pic.png"
    img.write_bytes(b"\x89PNG\r\n\x00\xff")
    _, body, headers = _prepared(c, "upload_p2p_chat_file", {"upload_file": str(img)})
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'filename="pic.png"' in body and b"\x89PNG\r\n\x00\xff" in body
    with pytest.raises(InvalidParameterError):
        _prepared(c, "upload_p2p_chat_file", {"upload_file": b"raw"})  # bytes need a filename
    with pytest.raises(InvalidParameterError):
        _prepared(c, "upload_p2p_chat_file", {})


# ---- response decoding --------------------------------------------------------------------
def test_finish_decodes_and_raises():
    c = RestClientV5(KEY, SECRET)
    r = c._route("get_tickers")
    h = CIMultiDict({"x-bapi-limit": "10", "X-Bapi-Limit-Status": "0", "X-BAPI-LIMIT-RESET-TIMESTAMP": "123"})
    ok = c._finish(r, {}, 200, "OK", h, b'{"retCode":0,"retMsg":"OK","result":{"a":1}}')
    assert ok["result"] == {"a": 1}
    assert c.get_rate_limit("get_tickers") == RateLimit(10, 0, 123)
    with pytest.raises(BybitAPIError) as ei:
        c._finish(r, {"category": "x"}, 200, "OK", h, b'{"retCode":10001,"retMsg":"bad","result":{}}')
    e = ei.value
    assert (e.ret_code, e.ret_msg, e.method, e.path, e.parameters) == (10001, "bad", "GET", "/v5/market/tickers", {"category": "x"})
    assert e.rate_limit == RateLimit(10, 0, 123) and e.response["retMsg"] == "bad"
    with pytest.raises(BybitHTTPError) as hi:
        c._finish(r, {}, 503, "Service Unavailable", {}, b"<html>down</html>" * 500)
    assert hi.value.status == 503 and len(hi.value.body) <= 2000
    with pytest.raises(BybitHTTPError, match="not JSON"):
        c._finish(r, {}, 200, "OK", {}, b"<html>")
    with pytest.raises(BybitHTTPError, match="JSON object"):
        c._finish(r, {}, 200, "OK", {}, b"[1,2]")
    envelopes = RestClientV5(KEY, SECRET, return_envelopes=True)
    assert envelopes._finish(r, {}, 200, "OK", {}, b'{"retCode":10001,"retMsg":"bad"}')["retCode"] == 10001


# ---- rate limits --------------------------------------------------------------------------
def test_parse_rate_limit_needs_all_three_ints():
    assert parse_rate_limit(CIMultiDict({"X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "19", "X-Bapi-Limit-Reset-Timestamp": "5"})) == (20, 19, 5)
    assert parse_rate_limit(CIMultiDict({"X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "19"})) is None
    assert parse_rate_limit(CIMultiDict({"X-Bapi-Limit": "x", "X-Bapi-Limit-Status": "19", "X-Bapi-Limit-Reset-Timestamp": "5"})) is None
    assert parse_rate_limit({}) is None


def test_rate_limit_hold_only_when_exhausted_and_before_reset():
    now = [1_000]
    rl = RateLimits(lambda: now[0])
    h = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": "1250"}
    rl.update("/p", h)
    assert rl.delay("/p") == pytest.approx(0.25)
    now[0] = 1_250
    assert rl.delay("/p") == 0.0
    rl.update("/p", {**h, "X-Bapi-Limit-Status": "3", "X-Bapi-Limit-Reset-Timestamp": "9999"})
    assert rl.delay("/p") == 0.0
    assert rl.delay("/other") == 0.0
    rl.update("/p", {**h, "X-Bapi-Limit-Reset-Timestamp": str(10**13)})
    assert rl.delay("/p") == rl.max_wait  # a far-away reset is capped
    assert rl.snapshot()["/p"]["remaining"] == 0


async def test_rate_limit_wait_is_non_blocking_and_reopens():
    now = [0]
    rl = RateLimits(lambda: now[0])
    rl.update("/p", {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": "30"})
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.create_task(ticker())
    held = await rl.wait("/p")
    t.cancel()
    assert held == pytest.approx(0.03) and ticks > 1  # the loop kept running while we held
    assert rl.get("/p").remaining == 10 and rl.delay("/p") == 0.0


# ---- time sync ----------------------------------------------------------------------------
def test_estimate_picks_min_rtt_and_biases_backwards():
    samples = [(0.0, 1_000.0, 40.0), (100.0, 1_105.0, 110.0), (200.0, 1_300.0, 260.0)]
    offset, midpoint, rtt, best = estimate(samples)
    assert best == samples[1] and rtt == 10.0
    assert midpoint == 1_000.0  # 1105 - (100 + 110) / 2
    assert offset == 995  # server - t_recv: never ahead of the exchange
    with pytest.raises(ValueError):
        estimate([])


async def test_timesync_measure_and_drift_warning(caplog):
    ts = TimeSync(drift_warning_ms=500)
    clock = [0.0]

    async def fetch() -> float:
        return client_mod.time.time_ns() / 1e6 + clock[0]

    with caplog.at_level("WARNING", logger="bybitfast.rest"):
        s = await ts.measure(fetch, samples=3)
        assert abs(s.offset_ms) < 200 and not s.skew_warning and not caplog.records
        clock[0] = 2_000.0
        s = await ts.measure(fetch, samples=3)
    assert s.skew_warning and 1_800 < ts.offset_ms <= 2_000
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "off the exchange clock" in messages and "drift" in messages
    assert set(s.as_dict()) >= {"round_trip_ms", "offset_ms", "one_way_ms"}


async def test_concurrent_syncs_share_one_measurement():
    ts = TimeSync()
    calls = 0

    async def fetch() -> float:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)
        return client_mod.time.time_ns() / 1e6

    a, b = await asyncio.gather(ts.sync(fetch, 2), ts.sync(fetch, 2))
    assert a is b and calls == 2


def test_repr_masks_key_and_hides_secret():
    c = RestClientV5(KEY, SECRET)
    r = repr(c)
    assert KEY not in r and SECRET not in r and "TEST" in r


def test_trace_switch_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("BYBITFAST_TRACE", "1")
    assert RestClientV5().trace is True
    monkeypatch.setenv("BYBITFAST_TRACE", "0")
    assert RestClientV5().trace is False
    assert RestClientV5(trace=True).trace is True
