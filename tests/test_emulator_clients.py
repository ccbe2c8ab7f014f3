"""Real third-party clients, unchanged, against the emulator: pybit (REST, private stream, trade
socket, public stream) and the Node SDK bybit-api (REST, private stream, WS API).

pybit's WebSocket classes connect in their constructors and run in threads, so the emulator runs
on its own loop in a background thread here; their URL templates are monkeypatched to point at it.
bybit-api runs when ``node`` can ``require('bybit-api')`` (set ``NODE_PATH`` to a node_modules that
has it, e.g. ``cd /tmp/x && npm install bybit-api``); otherwise that test is skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator

pybit = pytest.importorskip("pybit")

NODE_SCRIPT = Path(__file__).parent / "node" / "bybit_api_emulator.js"


class ThreadedEmulator:
    """An Emulator on its own event loop in a daemon thread (for threaded, blocking clients)."""

    def __init__(self, **options) -> None:
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ex: Emulator | None = None

    def __enter__(self) -> Emulator:
        self.thread.start()
        self.ex = self.call(self._start())
        return self.ex

    async def _start(self) -> Emulator:
        ex = Emulator(**self.options)
        await ex.start()
        return ex

    def call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc) -> None:
        assert self.ex is not None
        self.call(self.ex.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


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


def pybit_http(ex):
    from pybit.unified_trading import HTTP

    session = HTTP(testnet=False, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    session.endpoint = ex.rest_url
    return session


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


def test_pybit_private_stream(pybit_urls):
    from pybit.unified_trading import WebSocket

    got = threading.Event()
    frames: list[dict] = []

    def on_order(msg):
        frames.append(msg)
        got.set()

    ws = WebSocket(testnet=False, channel_type="private", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET, ping_interval=20)
    try:
        ws.order_stream(callback=on_order)
        deadline_ok = False
        session = pybit_http(pybit_urls)
        for _ in range(50):  # the subscribe ack has to land before the order event; poll briefly
            if ws.auth and ws.subscriptions:
                deadline_ok = True
                break
            threading.Event().wait(0.05)
        assert deadline_ok, "pybit never saw a successful auth"
        threading.Event().wait(0.2)
        session.place_order(category="linear", symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01", orderLinkId="pybit-ws-1")
        assert got.wait(5), "no order push reached pybit"
        assert frames[0]["topic"] == "order"
        assert any(d["orderLinkId"] == "pybit-ws-1" for f in frames for d in f["data"])
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
    from bybitfast.emulator import server

    if server._public_module() is None:  # noqa: SLF001
        pytest.skip("public.py (market helper) not present yet")
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
    assert result["rest_order"] == 0 and result["push_link_id"] == "node-rest-1"
    assert result["ws_order"] == 0 and result["ws_order_link_id"] == "node-ws-1"
