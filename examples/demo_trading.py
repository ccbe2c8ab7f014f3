"""Demo trading: the configuration, its one limitation, and an order on the demo REST API.

    python examples/demo_trading.py                        # the emulator stands in for api-demo
    BYBIT_API_KEY=... BYBIT_API_SECRET=... python examples/demo_trading.py --real   # Bybit's demo service

``demo_trading=True`` points REST at https://api-demo.bybit.com and the private stream at
wss://stream-demo.bybit.com; demo has no trade socket, so ``WebsocketAPIClient(demo_trading=True)``
raises ConfigurationError at construction instead of failing later (bybit-api routes it to the
wrong socket). With ``base_url`` the same demo-mode client talks to the emulator.
"""

import asyncio
import os

from _target import parser, target

from bybitfast import ConfigurationError, RestClientV5, WebsocketAPIClient


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--real", action="store_true", help="use Bybit's demo service (needs demo keys)")
    args = p.parse_args()

    demo = RestClientV5("demo-key", "demo-secret", demo_trading=True)
    print("demo REST base URL:", demo.base_url)
    await demo.close()
    try:
        WebsocketAPIClient("demo-key", "demo-secret", demo_trading=True)
    except ConfigurationError as exc:
        print("demo trade socket refused:", exc)

    if args.real:
        key, secret = os.environ.get("BYBIT_API_KEY"), os.environ.get("BYBIT_API_SECRET")
        if not (key and secret):
            raise SystemExit("set BYBIT_API_KEY and BYBIT_API_SECRET (demo-trading keys)")
        base_url = None
    async with target(args) as t:
        if not args.real:
            key, secret, base_url = t.key, t.secret, t.rest_url  # base_url wins over demo_trading
        async with RestClientV5(key, secret, demo_trading=True, base_url=base_url) as client:
            print("demo-mode client talking to", client.base_url)
            order = await client.submit_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001")
            print("demo market order filled:", order["result"]["orderId"])
            position = (await client.get_position_info(category="linear", symbol="BTCUSDT"))["result"]["list"][0]
            print(f"position {position['side']} {position['size']} @ {position['avgPrice']}")


if __name__ == "__main__":
    asyncio.run(main())
