"""Order entry over the trade socket: create, amend, cancel and a batch, each one awaitable.

    python examples/trade_socket.py [--testnet | --ws-url URL]   (keys: BYBIT_API_KEY / BYBIT_API_SECRET)

Each call returns the exchange's reply or raises a typed error: BybitAPIError (non-zero retCode),
RequestTimeoutError (no answer: the order may be live), ConnectionLostError (its
``may_have_reached_exchange`` tells whether the frame was written). Nothing is resent for you.
"""

import asyncio
import time
from decimal import Decimal

from _target import parser, target

from bybitfast import RestClientV5, WebsocketAPIClient


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--symbol", default="BTCUSDT")
    args = p.parse_args()
    async with target(args, need_keys=True) as t:
        async with RestClientV5(**t.rest_kwargs()) as rest:
            bid = Decimal((await rest.get_tickers(category="linear", symbol=args.symbol))["result"]["list"][0]["bid1Price"])
        low = (bid * Decimal("0.9")).quantize(Decimal("0.1"))
        async with WebsocketAPIClient(t.key, t.secret, **t.ws_kwargs()) as trade:
            print(f"trade socket authenticated at {trade.url}")
            t0 = time.perf_counter()
            created = await trade.submit_new_order(category="linear", symbol=args.symbol, side="Buy",
                                                   orderType="Limit", qty="0.001", price=str(low), timeInForce="GTC")
            order_id = created["data"]["orderId"]
            print(f"created {order_id} in {(time.perf_counter() - t0) * 1e3:.2f} ms; rate limit {created.rate_limit}")
            await trade.amend_order(category="linear", symbol=args.symbol, orderId=order_id, price=str(low - 1))
            print(f"amended {order_id} to {low - 1}")
            await trade.cancel_order(category="linear", symbol=args.symbol, orderId=order_id)
            print(f"cancelled {order_id}")

            batch = await trade.batch_submit_orders(category="linear", request=[
                {"symbol": args.symbol, "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": str(low - i)}
                for i in range(3)
            ])
            ids = [item["orderId"] for item in batch["data"]["list"]]
            print(f"batch created {len(ids)} orders; failed items: {batch.item_errors()}")
            await trade.batch_cancel_orders(category="linear", request=[{"symbol": args.symbol, "orderId": i} for i in ids])
            print("batch cancelled")


if __name__ == "__main__":
    asyncio.run(main())
