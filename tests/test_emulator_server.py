"""Emulator REST pipeline: routing, auth (HMAC, RSA), time window, faults, rate limits, CLI."""

from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from _emulator_helpers import Rest, emulator_fixture, hmac_hex, session_fixture, signed_headers
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
from bybitfast.emulator.routes import ROUTES

TSV = Path(__file__).resolve().parents[2] / "shared" / "reference" / "rest-endpoints.tsv"


ex = emulator_fixture(market_interval=0)
http = session_fixture()


async def _get(http, url, headers=None):
    async with http.get(url, headers=headers or {}) as resp:
        return resp.status, resp.headers, await resp.json(content_type=None)


# ---- routing ---------------------------------------------------------------------------------
def test_routes_match_reference_table():
    if not TSV.exists():
        pytest.skip("shared reference table not available")
    with TSV.open() as fh:
        pairs = {(r["http_verb"], r["path"]) for r in csv.DictReader(fh, delimiter="\t")}
    assert {(v, p) for v, p, _a, _g in ROUTES} == pairs
    assert len(ROUTES) == 405


async def test_every_route_answers_and_unknown_paths_404(ex, http):
    statuses = {}
    for verb, path, auth, _group in ROUTES:
        if verb == "GET":
            headers = signed_headers("") if auth == "private" else {}
            async with http.get(ex.rest_url + path, headers=headers) as resp:
                statuses[(verb, path)] = (resp.status, await resp.json(content_type=None))
        else:
            headers = signed_headers("{}")
            async with http.post(ex.rest_url + path, data=b"{}", headers=headers) as resp:
                statuses[(verb, path)] = (resp.status, await resp.json(content_type=None))
    bad = {k: v for k, v in statuses.items() if v[0] != 200 or v[1]["retCode"] in (10003, 10004, 10002)}
    assert not bad
    assert all(set(body) >= {"retCode", "retMsg", "result", "retExtInfo", "time"} for _s, body in statuses.values())
    async with http.get(ex.rest_url + "/v5/no/such/path") as resp:
        assert resp.status == 404
    async with http.get(ex.rest_url + "/v5/order/create") as resp:  # POST-only path
        assert resp.status == 404
    assert ex.request_log[-1]["http_status"] == 404


async def test_system_status_is_public_and_logged(ex, http):
    status, _h, body = await _get(http, ex.rest_url + "/v5/system/status")
    assert status == 200 and body["retCode"] == 0
    entry = ex.request_log[-1]
    assert entry == {
        "method": "GET",
        "path": "/v5/system/status",
        "query": "",
        "private": False,
        "auth_ok": False,
        "ret_code": 0,
        "http_status": 200,
    }


# ---- auth ----------------------------------------------------------------------------------------
async def test_missing_auth_headers_10001(ex, http):
    status, _h, body = await _get(http, ex.rest_url + "/v5/account/info")
    assert status == 200 and body["retCode"] == 10001
    assert body["retMsg"].startswith("empty value: apiTimestamp[")
    assert ex.request_log[-1]["private"] is True and ex.request_log[-1]["auth_ok"] is False


async def test_malformed_timestamp_10001(ex, http):
    headers = signed_headers("")
    headers["X-BAPI-TIMESTAMP"] = "soon"
    _s, _h, body = await _get(http, ex.rest_url + "/v5/account/info", headers)
    assert body["retCode"] == 10001


@pytest.mark.parametrize(("offset_ms", "ok"), [(-4000, True), (-6000, False), (500, True), (1500, False)])
async def test_recv_window_rule_10002(ex, http, offset_ms, ok):
    ts = int(time.time() * 1000) + offset_ms
    _s, _h, body = await _get(http, ex.rest_url + "/v5/account/info", signed_headers("", ts=ts))
    if ok:
        assert body["retCode"] == 0
    else:
        assert body["retCode"] == 10002
        assert body["retMsg"].startswith(
            f"invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts}],server_timestamp["
        )
        assert body["retMsg"].endswith(",recv_window[5000]")


async def test_recv_window_header_optional_defaults_5000(ex, http):
    ts = int(time.time() * 1000) - 4000
    _s, _h, body = await _get(http, ex.rest_url + "/v5/account/info", signed_headers("", ts=ts, recv_window=None))
    assert body["retCode"] == 0
    ts = int(time.time() * 1000) - 6000
    _s, _h, body = await _get(http, ex.rest_url + "/v5/account/info", signed_headers("", ts=ts, recv_window=None))
    assert body["retCode"] == 10002


async def test_unknown_key_10003(ex, http):
    _s, _h, body = await _get(http, ex.rest_url + "/v5/account/info", signed_headers("", key="NOPE"))
    assert (body["retCode"], body["retMsg"]) == (10003, "API key is invalid.")


async def test_bad_signature_10004(ex, http):
    headers = signed_headers("category=linear", secret="wrong")
    _s, _h, body = await _get(http, ex.rest_url + "/v5/order/realtime?category=linear", headers)
    assert body["retCode"] == 10004
    assert body["retMsg"] == f"error sign! origin_string[{headers['X-BAPI-TIMESTAMP']}{DEFAULT_API_KEY}5000category=linear]"
    assert ex.request_log[-1]["ret_code"] == 10004


async def test_get_signature_over_raw_query_as_sent(ex, http):
    # Unsorted keys and a doubly-encoded cursor: only the raw bytes verify.
    query = "symbol=BTCUSDT&category=linear&limit=20&cursor=page_args%253D123%2526symbol%253D6%2526"
    _s, _h, body = await _get(http, ex.rest_url + "/v5/order/history?" + query, signed_headers(query))
    assert body["retCode"] in (0, 10001)  # the cursor is not one of ours; auth passed
    assert body["retCode"] != 10004
    decoded = "symbol=BTCUSDT&category=linear&limit=20&cursor=page_args%3D123%26symbol%3D6%26"
    _s, _h, body = await _get(http, ex.rest_url + "/v5/order/history?" + query, signed_headers(decoded))
    assert body["retCode"] == 10004
    assert ex.request_log[-1]["query"] == query


async def test_post_bodies_pybit_and_compact_both_verify(ex, http):
    rest = Rest(http, ex.rest_url)
    params = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "5"}
    assert (await rest.post("/v5/position/set-leverage", params, compact=False))["retCode"] == 0
    params["buyLeverage"] = params["sellLeverage"] = "6"
    assert (await rest.post("/v5/position/set-leverage", params, compact=True))["retCode"] == 0
    # Signing one serialisation and sending the other fails.
    spaced = json.dumps(params)
    compact = json.dumps(params, separators=(",", ":"))
    async with http.post(ex.rest_url + "/v5/position/set-leverage", data=compact, headers=signed_headers(spaced)) as resp:
        assert (await resp.json())["retCode"] == 10004


async def test_golden_vector_signature():
    # PROTOCOL §2.5 vector 1, with our own hmac helper.
    payload = "1658384314791TESTKEY1234567890A5000category=option&symbol=BTC-29JUL22-25000-C"
    assert hmac_hex("TESTSECRET1234567890abcdefghijklmnop", payload) == "f5fce47bbfee090cb05dc7b2428559e3a6284d45a72697e394646f6418f3652f"


def _rsa_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pem


async def test_rsa_key_ok_and_bad(http):
    key, pem = _rsa_pair()
    async with Emulator(market_interval=0, rsa_public_key=pem) as ex:
        ts = str(int(time.time() * 1000))
        payload = f"{ts}rsa_api_key5000accountType=UNIFIED".encode()
        sig = base64.b64encode(key.sign(payload, padding.PKCS1v15(), hashes.SHA256())).decode()
        headers = {"X-BAPI-API-KEY": "rsa_api_key", "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000", "X-BAPI-SIGN": sig}
        _s, _h, body = await _get(http, ex.rest_url + "/v5/account/wallet-balance?accountType=UNIFIED", headers)
        assert body["retCode"] == 0
        other, _pem = _rsa_pair()
        headers["X-BAPI-SIGN"] = base64.b64encode(other.sign(payload, padding.PKCS1v15(), hashes.SHA256())).decode()
        _s, _h, body = await _get(http, ex.rest_url + "/v5/account/wallet-balance?accountType=UNIFIED", headers)
        assert body["retCode"] == 10004
        headers["X-BAPI-SIGN"] = "not base64!"
        _s, _h, body = await _get(http, ex.rest_url + "/v5/account/wallet-balance?accountType=UNIFIED", headers)
        assert body["retCode"] == 10004


async def test_add_api_key_new_account(ex, http):
    ex.add_api_key("SECONDKEY", "second-secret")
    rest = Rest(http, ex.rest_url, key="SECONDKEY", secret="second-secret")
    assert (await rest.order(side="Buy", orderType="Market", qty="0.01"))["retCode"] == 0
    mine = await Rest(http, ex.rest_url).get("/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"})
    assert mine["result"]["list"][0]["size"] == "0.000"  # the default account is untouched
    theirs = await rest.get("/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"})
    assert theirs["result"]["list"][0]["size"] == "0.010"


# ---- faults ------------------------------------------------------------------------------------
async def test_fail_next_kinds(ex, http):
    rest = Rest(http, ex.rest_url)
    ex.faults.fail_next("10002")
    ex.faults.fail_next("10006")
    ex.faults.fail_next("429")
    ex.faults.fail_next("503")
    body = await rest.get("/v5/account/info")
    assert rest.last_status == 200 and body["retCode"] == 10002
    body = await rest.get("/v5/account/info")
    assert rest.last_status == 200 and body["retCode"] == 10006
    async with http.get(ex.rest_url + "/v5/account/info", headers=signed_headers("")) as resp:
        assert resp.status == 429
    async with http.get(ex.rest_url + "/v5/account/info", headers=signed_headers("")) as resp:
        assert resp.status == 503
    assert (await rest.get("/v5/account/info"))["retCode"] == 0
    assert [e.kind for e in ex.faults.log] == ["rest_10002", "rest_10006", "rest_429", "rest_503"]
    assert [e["http_status"] for e in ex.request_log[-5:]] == [200, 200, 429, 503, 200]
    with pytest.raises(ValueError):
        ex.faults.fail_next("418")


async def test_delay_and_reject_auth(ex, http):
    rest = Rest(http, ex.rest_url)
    ex.faults.delay_responses(0.01)
    assert (await rest.get("/v5/account/info"))["retCode"] == 0
    assert ex.faults.log[-1].kind == "delay"
    ex.faults.delay_responses(0)
    ex.faults.reject_auth(1)
    body = await rest.get("/v5/account/info")
    assert body["retCode"] == 10004
    assert (await rest.get("/v5/account/info"))["retCode"] == 0
    assert [e.kind for e in ex.faults.log].count("auth_rejected") == 1


# ---- rate limits -------------------------------------------------------------------------------
async def test_rate_limit_headers_and_10006(ex, http):
    rest = Rest(http, ex.rest_url)
    statuses = []
    for _ in range(5):  # fee-rate: 5 per second
        body = await rest.get("/v5/account/fee-rate", {"category": "linear", "symbol": "BTCUSDT"})
        assert body["retCode"] == 0
        statuses.append(int(rest.last_headers["X-Bapi-Limit-Status"]))
        assert rest.last_headers["X-Bapi-Limit"] == "5"
    assert statuses == [4, 3, 2, 1, 0]
    body = await rest.get("/v5/account/fee-rate", {"category": "linear", "symbol": "BTCUSDT"})
    assert (body["retCode"], body["retMsg"]) == (10006, "Too many visits!")
    reset = int(rest.last_headers["X-Bapi-Limit-Reset-Timestamp"])
    assert reset > body["time"] - 1000
    # Another endpoint has its own budget.
    assert (await rest.get("/v5/account/info"))["retCode"] == 0


async def test_rate_limits_off(http):
    async with Emulator(market_interval=0, rate_limits=False) as ex:
        rest = Rest(http, ex.rest_url)
        for _ in range(8):
            body = await rest.get("/v5/account/fee-rate", {"category": "linear", "symbol": "BTCUSDT"})
            assert body["retCode"] == 0
        assert "X-Bapi-Limit" in rest.last_headers


# ---- CLI -----------------------------------------------------------------------------------------
def test_cli_prints_ready_line_and_serves():
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from bybitfast.cli import main; sys.exit(main())", "emulator", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("ready http://127.0.0.1:"), line
        _ready, http_url, ws_url = line.split()
        assert ws_url == http_url.replace("http://", "ws://")
        import urllib.request

        with urllib.request.urlopen(http_url + "/v5/system/status", timeout=5) as resp:
            assert json.loads(resp.read())["retCode"] == 0
        query = "accountType=UNIFIED"
        req = urllib.request.Request(http_url + "/v5/account/wallet-balance?" + query, headers=signed_headers(query))
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["retCode"] == 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_help_documents_default_key(capsys):
    from bybitfast.cli import main

    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    out = capsys.readouterr().out
    assert DEFAULT_API_KEY in out and DEFAULT_API_SECRET in out


async def test_request_log_is_bounded(monkeypatch):
    """A long-running emulator keeps only the newest requests (it used to grow without bound)."""
    import aiohttp

    from bybitfast.emulator import Emulator, server

    monkeypatch.setattr(server, "REQUEST_LOG_LIMIT", 10)
    async with Emulator(rate_limits=False) as ex, aiohttp.ClientSession() as http:
        for _ in range(25):
            async with http.get(f"{ex.rest_url}/v5/market/time") as resp:
                assert resp.status == 200
        assert len(ex.request_log) <= 10
        assert ex.request_log[-1]["path"] == "/v5/market/time"
