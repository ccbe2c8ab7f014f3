"""Managed local order books: several symbols, kept valid by the client (gaps, reconnects, resyncs).

    python examples/managed_books.py [--duration 2] [--testnet | --ws-url URL]

Frames go from the socket straight into the native book (no Python per frame). On a sequence gap
or a crossed book the client marks the book invalid (``book.valid`` is False), resubscribes for a
fresh snapshot and emits ``book_resync`` then ``book_valid``; readers only check ``book.valid``.
"""

import asyncio

from _target import parser, target

from bybitfast import WebsocketClient


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--duration", type=float, default=2.0)
    args = p.parse_args()
    async with target(args) as t, WebsocketClient(**t.ws_kwargs()) as client:
        client.on("book_resync", lambda ev: print(f"resync {ev['topic']}: {ev['reason']}"))
        books = {s: await client.subscribe_order_book(s, "linear", 50) for s in ("BTCUSDT", "ETHUSDT")}
        if t.emulator is not None:  # show a resync: withhold one BTCUSDT delta (a u gap)
            t.emulator.faults.skip_delta("orderbook.50.BTCUSDT")
        for _ in range(int(args.duration / 0.5)):
            await asyncio.sleep(0.5)
            for symbol, book in books.items():
                (bid, _), (ask, _) = book.bids_decimal(1)[0], book.asks_decimal(1)[0]
                print(f"{symbol} valid={book.valid} u={book.update_id} updates={book.snapshots + book.deltas} "
                      f"bid {bid} ask {ask} spread {float(ask) - float(bid):.4g}")


if __name__ == "__main__":
    asyncio.run(main())
