"""Public REST: server time, a ticker, and an order-book snapshot loaded into a local book.

    python examples/rest_public.py [--symbol BTCUSDT] [--testnet | --rest-url URL]
"""

import asyncio

from _target import parser, target

from bybitfast import OrderBook, RestClientV5


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--symbol", default="BTCUSDT")
    args = p.parse_args()
    async with target(args) as t, RestClientV5(**t.rest_kwargs()) as client:
        print(f"talking to {t.where()}")
        server = await client.get_server_time()
        print("server time ms:", server["result"]["timeNano"][:-6])

        ticker = (await client.get_tickers(category="linear", symbol=args.symbol))["result"]["list"][0]
        print(f"{args.symbol} last {ticker['lastPrice']} bid {ticker['bid1Price']} ask {ticker['ask1Price']}")

        # A REST snapshot loads straight into the same native book the streams maintain.
        snapshot = await client.get_orderbook(category="linear", symbol=args.symbol, limit=50)
        book = OrderBook(args.symbol, category="linear")
        book.apply_snapshot(snapshot)
        print(f"book u={book.update_id} best bid {book.best_bid()} best ask {book.best_ask()} levels {len(book.bids())}/{len(book.asks())}")


if __name__ == "__main__":
    asyncio.run(main())
