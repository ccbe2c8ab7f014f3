"""Public streams: subscribe to tickers and trades, read decoded ``update`` events.

    python examples/public_stream.py [--duration 2] [--testnet | --ws-url URL]

``subscribe_v5`` returns once the exchange acknowledged every topic (or raises SubscriptionError
naming the refused ones). Topics survive reconnects: the client resubscribes them by itself.
"""

import asyncio
import time
from collections import Counter

from _target import parser, target

from bybitfast import WebsocketClient


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--duration", type=float, default=2.0)
    args = p.parse_args()
    counts: Counter[str] = Counter()

    def on_update(msg: dict) -> None:
        if counts[msg["topic"]] == 0:  # show the first frame of each topic
            print(f"first {msg['topic']} ({msg['type']}): {str(msg['data'])[:100]}")
        counts[msg["topic"]] += 1

    async with target(args) as t, WebsocketClient(**t.ws_kwargs()) as client:
        client.on("update", on_update)
        topics = ["tickers.BTCUSDT", "publicTrade.BTCUSDT"]
        await client.subscribe_v5(topics, "linear")
        print(f"subscribed {topics} on {t.where()}")
        started = time.perf_counter()
        await asyncio.sleep(args.duration)
        elapsed = time.perf_counter() - started
    print(f"{sum(counts.values())} frames in {elapsed:.1f} s: {dict(counts)}")


if __name__ == "__main__":
    asyncio.run(main())
