"""Reconnect with backfill: after a drop, fetch over REST what the streams missed while down.

    python examples/reconnect_backfill.py [--duration 10] [--testnet | --ws-url URL --rest-url URL]

The client reconnects and resubscribes by itself (jittered backoff), but pushes sent while the
socket was down are gone. On ``reconnected`` this example asks REST for recent trades and
executions and keeps those it has not seen (deduplicated by id). Against the emulator it cuts
both sockets and places an order while they are down, so there is something to recover.
"""

import asyncio

from _target import parser, target

from bybitfast import RestClientV5, WebsocketClient
from bybitfast.ws.connection import ReconnectPolicy

SYMBOL = "BTCUSDT"


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="seconds to wait for a drop and its recovery")
    args = p.parse_args()
    trade_ids: set[str] = set()
    exec_ids: set[str] = set()
    recovered = {"v5_linear_public": asyncio.Event(), "v5_private": asyncio.Event()}
    dropped: set[str] = set()

    def on_update(msg: dict) -> None:
        if msg["topic"] == f"publicTrade.{SYMBOL}":
            trade_ids.update(t["i"] for t in msg["data"])
        elif msg["topic"] == "execution":
            exec_ids.update(e["execId"] for e in msg["data"])

    async with target(args, need_keys=True) as t:
        rest = RestClientV5(t.key, t.secret, **t.rest_kwargs())
        client = WebsocketClient(t.key, t.secret, **t.ws_kwargs(), reconnect=ReconnectPolicy(initial=0.5, maximum=2.0))

        async def backfill(ws_key: str) -> None:
            if ws_key == "v5_linear_public":
                trades = (await rest.get_public_trading_history(category="linear", symbol=SYMBOL, limit=1000))["result"]["list"]
                missed = [x for x in trades if x["execId"] not in trade_ids]
                trade_ids.update(x["execId"] for x in missed)
                print(f"backfilled {len(missed)} missed trades (of {len(trades)} recent ones over REST)")
            elif ws_key == "v5_private":
                execs = (await rest.get_execution_list(category="linear", symbol=SYMBOL, limit=100))["result"]["list"]
                missed = [x for x in execs if x["execId"] not in exec_ids]
                exec_ids.update(x["execId"] for x in missed)
                print(f"backfilled {len(missed)} missed executions: {[(x['side'], x['execQty'], x['execPrice']) for x in missed]}")
            if ws_key in recovered:
                recovered[ws_key].set()

        def on_reconnect(ev: dict) -> None:
            print(f"connection dropped ({ev['ws_key']}); reconnecting")
            dropped.add(ev["ws_key"])
            if t.emulator is not None:
                if dropped >= set(recovered):
                    t.emulator.faults.clear()  # one cut of each socket only
                if ev["ws_key"] == "v5_private":  # activity while the private stream is down
                    asyncio.get_running_loop().create_task(
                        rest.submit_order(category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.001"))

        def on_reconnected(ev: dict) -> None:
            print(f"reconnected ({ev['ws_key']}); topics resubscribed")
            asyncio.get_running_loop().create_task(backfill(ev["ws_key"]))

        client.on("update", on_update)
        client.on("reconnect", on_reconnect)
        client.on("reconnected", on_reconnected)
        try:
            await client.subscribe_v5(f"publicTrade.{SYMBOL}", "linear")
            await client.subscribe_v5("execution")
            print("subscribed publicTrade and execution")
            if t.emulator is not None:
                await asyncio.sleep(0.5)
                t.emulator.faults.drop_connections_in(0.0)  # every socket is cut at its next frame
                await rest.submit_order(category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.001")
            try:
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in recovered.values())), args.duration)
            except asyncio.TimeoutError:
                print(f"no drop within {args.duration:g} s: nothing to backfill")
        finally:
            await client.close_all()
            await rest.close()


if __name__ == "__main__":
    asyncio.run(main())
