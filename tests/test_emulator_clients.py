"""Real third-party clients, unchanged, against the emulator: pybit (REST, private stream, trade
socket, public stream) and the Node SDK bybit-api (REST, public book stream, private stream, WS API).
ccxt has its own file (test_emulator_ccxt.py).

pybit's WebSocket classes connect in their constructors and run in threads, so the emulator runs
on its own loop in a background thread here; their URL templates are monkeypatched to point at it.
bybit-api runs when ``node`` can ``require('bybit-api')`` (set ``NODE_PATH`` to a node_modules that
has it, e.g. ``cd /tmp/x && npm install bybit-api``); otherwise that test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from _emulator_helpers import ThreadedEmulator

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET

pybit = pytest.importorskip("pybit")

NODE_SCRIPT = Path(__file__).parent / "node" / "bybit_api_emulator.js"


@pytest.fixture(scope="module")
def emu():
    # 50 ms link latency: pybit registers a trade-socket request only after sending it, so on a
    # zero-latency loopback the reply could beat the registration (PROTOCOL §11).
    with ThreadedEmulator(market_interval=0.05, latency=0.05, rate_limits=False) as ex:
        yield ex


@pytest.fixture
def pybit_urls(emu, monkeypatch):
    from pybit import _websocket_trading, unified_trading

    monkeypatch.setattr(unified_trading, "PRIVATE_WSS", emu.ws_url + "/v5/private")
    monkeypatch.setattr(unified_trading, "PUBLIC_WSS", emu.ws_url + "/v5/public/{CHANNEL_TYPE}")
    monkeypatch.setattr(_websocket_trading, "TRADE_WSS", emu.ws_url + "/v5/trade")
    return emu


def pybit_http(ex, key: str = DEFAULT_API_KEY, secret: str = DEFAULT_API_SECRET):
    from pybit.unified_trading import HTTP

    session = HTTP(testnet=False, api_key=key, api_secret=secret)
    session.endpoint = ex.rest_url
    return session


def test_pybit_rest_order_lifecycle(emu):
    """place / amend / cancel / open orders / positions / wallet on a fresh account."""
    emu.add_api_key("PYBITLIFE0001", "pybit-lifecycle-secret")
    session = pybit_http(emu, "PYBITLIFE0001", "pybit-lifecycle-secret")
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]
    assert [c["coin"] for c in wallet["coin"]] == ["USDT"] and wallet["coin"][0]["walletBalance"] == "100000"
    bid = float(session.get_tickers(category="linear", symbol="BTCUSDT")["result"]["list"][0]["bid1Price"])
    price = f"{int(bid * 0.9)}.0"
    placed = session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01", price=price, orderLinkId="pybit-life-1")
    oid = placed["result"]["orderId"]
    open_orders = session.get_open_orders(category="linear", symbol="BTCUSDT")["result"]["list"]
    assert [(o["orderId"], o["orderStatus"], o["price"], o["qty"]) for o in open_orders] == [(oid, "New", price, "0.010")]
    amended = session.amend_order(category="linear", symbol="BTCUSDT", orderId=oid, qty="0.02")
    assert amended["result"] == {"orderId": oid, "orderLinkId": "pybit-life-1"}
    assert session.get_open_orders(category="linear", symbol="BTCUSDT", orderLinkId="pybit-life-1")["result"]["list"][0]["qty"] == "0.020"
    wallet = session.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    usdt = next(c for c in wallet["coin"] if c["coin"] == "USDT")
    assert float(usdt["totalOrderIM"]) > 0  # the resting order holds margin
    cancelled = session.cancel_order(category="linear", symbol="BTCUSDT", orderLinkId="pybit-life-1")
    assert cancelled["result"]["orderId"] == oid
    assert session.get_open_orders(category="linear", symbol="BTCUSDT")["result"]["list"] == []
    session.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.02")
    pos = session.get_positions(category="linear", settleCoin="USDT")["result"]["list"]
    assert [(p["symbol"], p["side"], p["size"]) for p in pos] == [("BTCUSDT", "Sell", "0.020")]


def test_pybit_rest_public_and_private(emu):
    from pybit.exceptions import InvalidRequestError

    session = pybit_http(emu)
    assert session.get_system_status()["retCode"] == 0
    assert session.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["accountType"] == "UNIFIED"
    r = session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01", orderLinkId="pybit-1")
    assert r["retCode"] == 0 and r["result"]["orderLinkId"] == "pybit-1"
    pos = session.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert pos["side"] == "Buy" and float(pos["size"]) >= 0.01
    hist = session.get_order_history(category="linear", orderLinkId="pybit-1")["result"]["list"]
    assert hist[0]["orderStatus"] == "Filled"
    with pytest.raises(InvalidRequestError) as err:
        session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01", orderLinkId="pybit-1")
    assert err.value.status_code == 110072
    if ("GET", "/v5/market/time") in emu.handlers:  # served by the market helper's module
        assert int(session.get_server_time()["result"]["timeSecond"]) > 0


def test_pybit_rest_rejects_wrong_secret(emu):
    from pybit.exceptions import InvalidRequestError
    from pybit.unified_trading import HTTP

    session = HTTP(testnet=False, api_key=DEFAULT_API_KEY, api_secret="wrong", max_retries=1)
    session.endpoint = emu.rest_url
    with pytest.raises(InvalidRequestError) as err:
        session.get_wallet_balance(accountType="UNIFIED")
    assert err.value.status_code == 10004


def _private_subscribed(ex, topics: set[str]) -> bool:
    """Whether a private connection of ``ex`` has processed subscribes to all of ``topics``."""
    return any(topics <= getattr(getattr(fn, "__self__", None), "topics", set()) for fn in ex.exchange.listeners)


def test_pybit_private_stream(pybit_urls):
    from pybit.unified_trading import WebSocket

    emu = pybit_urls
    emu.add_api_key("PYBITWS0001", "pybit-ws-secret")
    frames: dict[str, list[dict]] = {"order": [], "execution": [], "position": [], "wallet": []}
    lock = threading.Lock()
    cancelled = threading.Event()
    filled = threading.Event()

    def collect(msg):
        with lock:
            frames[msg["topic"]].append(msg)
            orders = [d for f in frames["order"] for d in f["data"]]
        if any(d["orderLinkId"] == "pybit-ws-2" and d["orderStatus"] == "Cancelled" for d in orders):
            cancelled.set()
        if any(d["orderLinkId"] == "pybit-ws-1" and d["orderStatus"] == "Filled" for d in orders) and frames["wallet"]:
            filled.set()

    ws = WebSocket(testnet=False, channel_type="private", api_key="PYBITWS0001", api_secret="pybit-ws-secret", ping_interval=20)
    try:
        ws.order_stream(callback=collect)
        ws.execution_stream(callback=collect)
        ws.position_stream(callback=collect)
        ws.wallet_stream(callback=collect)
        for _ in range(100):  # the subscribes must be processed before the order events; poll briefly
            if ws.auth and _private_subscribed(emu, {"order", "execution", "position", "wallet"}):
                break
            threading.Event().wait(0.05)
        assert ws.auth, "pybit never saw a successful auth"
        session = pybit_http(emu, "PYBITWS0001", "pybit-ws-secret")
        session.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01", orderLinkId="pybit-ws-1")
        assert filled.wait(5), "no fill / wallet push reached pybit"
        with lock:
            execs = [d for f in frames["execution"] for d in f["data"] if d["orderLinkId"] == "pybit-ws-1"]
            positions = [d for f in frames["position"] for d in f["data"]]
        assert execs and sum(float(e["execQty"]) for e in execs) == pytest.approx(0.01)
        assert positions[-1]["side"] == "Sell" and positions[-1]["size"] == "0.010"

        price = f"{int(float(session.get_tickers(category='linear', symbol='BTCUSDT')['result']['list'][0]['ask1Price']) * 1.1)}.0"
        session.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Limit", qty="0.01", price=price, orderLinkId="pybit-ws-2")
        session.amend_order(category="linear", symbol="BTCUSDT", orderLinkId="pybit-ws-2", qty="0.03")
        session.cancel_order(category="linear", symbol="BTCUSDT", orderLinkId="pybit-ws-2")
        assert cancelled.wait(5), "no cancel push reached pybit"
        with lock:
            states = [(d["orderStatus"], d["qty"]) for f in frames["order"] for d in f["data"] if d["orderLinkId"] == "pybit-ws-2"]
        assert states == [("New", "0.010"), ("New", "0.030"), ("Cancelled", "0.030")]
    finally:
        ws.exit()


def test_pybit_trade_socket(pybit_urls):
    from pybit.unified_trading import WebSocketTrading

    done = threading.Event()
    replies: list[dict] = []

    def on_reply(msg):
        replies.append(msg)
        done.set()

    ws = WebSocketTrading(testnet=False, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    try:
        for _ in range(50):
            if ws.auth:
                break
            threading.Event().wait(0.05)
        assert ws.auth, "trade socket auth failed"
        ws.place_order(on_reply, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01", orderLinkId="pybit-trade-1")
        assert done.wait(5), "no reply to order.create"
        assert replies[0]["retCode"] == 0 and replies[0]["op"] == "order.create"
        assert replies[0]["data"]["orderLinkId"] == "pybit-trade-1"
    finally:
        ws.exit()


def test_pybit_public_stream(pybit_urls):
    from pybit.unified_trading import WebSocket

    got = threading.Event()
    frames: list[dict] = []

    def on_book(msg):
        frames.append(msg)
        if len(frames) >= 3:
            got.set()

    ws = WebSocket(testnet=False, channel_type="linear")
    try:
        ws.orderbook_stream(depth=50, symbol="BTCUSDT", callback=on_book)
        assert got.wait(5), "no order-book frames"
        assert frames[0]["type"] == "snapshot" and frames[0]["topic"] == "orderbook.50.BTCUSDT"
    finally:
        ws.exit()


def _node_with_bybit_api() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    probe = subprocess.run([node, "-e", "require.resolve('bybit-api')"], capture_output=True, env=dict(os.environ), timeout=20)
    return node if probe.returncode == 0 else None


def test_bybit_api_node_sdk(emu):
    node = _node_with_bybit_api()
    if node is None:
        pytest.skip("node or the bybit-api package is not resolvable (set NODE_PATH)")
    proc = subprocess.run(
        [node, str(NODE_SCRIPT), emu.rest_url, emu.ws_url, DEFAULT_API_KEY, DEFAULT_API_SECRET],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    assert proc.returncode == 0, result
    assert result["wallet"] == 0 and result["status"] == 0 and result["private_auth"] is True
    # Public stream: snapshot then +1 deltas, applied by the script without deleting absent levels.
    assert result["book_snapshot"] == "snapshot" and result["book_deltas"] >= 5 and result["book_levels"] == [50, 50]
    assert result["private_subscribed"] is True
    assert result["rest_order"] == 0 and result["push_link_id"] == "node-rest-1"
    # WS API create / amend / cancel, each confirmed by an order push on the private stream.
    assert result["ws_order"] == 0 and result["ws_order_link_id"] == "node-ws-1"
    assert result["ws_amend"] == 0 and result["ws_cancel"] == 0 and result["ws_cancel_order_id"] is True
    assert result["ws_cancel_again"] == 110001 and result["open_after"] == 0
