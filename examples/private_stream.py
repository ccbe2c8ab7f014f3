"""Private stream: authenticate, subscribe to order / execution / position / wallet, see an order's pushes.

    python examples/private_stream.py [--testnet | --ws-url URL --rest-url URL]   (keys: BYBIT_API_KEY / BYBIT_API_SECRET)

Against the emulator a small market order is placed over REST so that every topic pushes
something. Against Bybit no order is placed: the example waits up to --duration for activity.
"""

import asyncio

from _target import parser, target

from bybitfast import RestClientV5, WebsocketClient

TOPICS = ("order", "execution", "position", "wallet")


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="how long to wait for pushes")
    args = p.parse_args()
    seen: dict[str, asyncio.Event] = {topic: asyncio.Event() for topic in TOPICS}

    def on_update(msg: dict) -> None:
        topic = msg["topic"]
        if topic in seen and not seen[topic].is_set():
            item = msg["data"][0]
            brief = {k: item[k] for k in ("symbol", "side", "orderStatus", "execQty", "execPrice", "size", "totalEquity") if k in item}
            print(f"{topic} {brief}")
            seen[topic].set()

    async with target(args, need_keys=True) as t, WebsocketClient(t.key, t.secret, **t.ws_kwargs()) as client:
        client.on("authenticated", lambda msg: print("authenticated on the private stream"))
        client.on("update", on_update)
        await client.subscribe_v5(list(TOPICS))
        if t.emulator is not None:
            async with RestClientV5(t.key, t.secret, **t.rest_kwargs()) as rest:
                await rest.submit_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001")
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in seen.values())), args.duration)
        except asyncio.TimeoutError:
            print(f"no push within {args.duration:g} s on: {[k for k, e in seen.items() if not e.is_set()]}")


if __name__ == "__main__":
    asyncio.run(main())
