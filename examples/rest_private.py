"""Private REST: wallet balance, a resting limit order, the open-order list, a cancel.

    python examples/rest_private.py [--testnet | --rest-url URL]   (keys: BYBIT_API_KEY / BYBIT_API_SECRET)

The order is placed 5 % below the best bid so it rests; it is cancelled before the example ends.
Errors carry the exchange's retCode (``BybitAPIError.ret_code``) and never the secret.
"""

import asyncio
from decimal import Decimal

from _target import parser, target

from bybitfast import BybitAPIError, RestClientV5


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--symbol", default="BTCUSDT")
    args = p.parse_args()
    async with target(args, need_keys=True) as t:
        async with RestClientV5(t.key, t.secret, **t.rest_kwargs()) as client:
            print(f"talking to {t.where()}")
            wallet = (await client.get_wallet_balance(accountType="UNIFIED"))["result"]["list"][0]
            print(f"wallet equity {wallet['totalEquity']} USD")

            info = (await client.get_instruments_info(category="linear", symbol=args.symbol))["result"]["list"][0]
            tick, qty = Decimal(info["priceFilter"]["tickSize"]), info["lotSizeFilter"]["minOrderQty"]
            bid = Decimal((await client.get_tickers(category="linear", symbol=args.symbol))["result"]["list"][0]["bid1Price"])
            price = (bid * Decimal("0.95") / tick).to_integral_value() * tick

            order = await client.submit_order(category="linear", symbol=args.symbol, side="Buy", orderType="Limit",
                                              qty=qty, price=str(price), timeInForce="GTC")
            order_id = order["result"]["orderId"]
            print(f"placed order {order_id}: Buy {qty} @ {price}")

            open_orders = (await client.get_active_orders(category="linear", symbol=args.symbol))["result"]["list"]
            print(f"open orders: {[o['orderId'] for o in open_orders]}")

            await client.cancel_order(category="linear", symbol=args.symbol, orderId=order_id)
            print(f"cancelled order {order_id}")
            try:
                await client.cancel_order(category="linear", symbol=args.symbol, orderId=order_id)
            except BybitAPIError as exc:  # already cancelled: a typed error with the exchange's code
                print(f"second cancel refused: retCode {exc.ret_code}")


if __name__ == "__main__":
    asyncio.run(main())
