"""RSA API keys: generate a key pair, register the public key, sign requests with the private key.

    python examples/rsa_keys.py                     # against the emulator (key registered for you)
    BYBIT_API_KEY=... BYBIT_RSA_PRIVATE_KEY_FILE=key.pem python examples/rsa_keys.py --testnet

bybitfast detects an RSA secret by its PEM header ("PRIVATE KEY") and signs with RSA PKCS#1 v1.5
SHA-256 (base64) instead of HMAC; pass ``rsa=True`` to be explicit. On Bybit you register the
*public* key when creating the API key; here the emulator is given it at start-up.
"""

import asyncio
import os

from _target import parser, target
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bybitfast import RestClientV5, Signer


def new_key_pair() -> tuple[str, str]:
    """A 2048-bit RSA key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


async def main() -> None:
    args = parser(__doc__).parse_args()
    if args.testnet or args.rest_url:
        key = os.environ.get("BYBIT_API_KEY")
        pem_file = os.environ.get("BYBIT_RSA_PRIVATE_KEY_FILE")
        if not (key and pem_file):
            raise SystemExit("set BYBIT_API_KEY and BYBIT_RSA_PRIVATE_KEY_FILE to run against Bybit")
        with open(pem_file) as f:
            private_pem, public_pem = f.read(), None
    else:
        private_pem, public_pem = new_key_pair()
        key = "rsa_api_key"  # the emulator registers the RSA public key under this API key
    print("signer kind:", "RSA" if Signer(private_pem).is_rsa else "HMAC")
    async with target(args, rsa_public_key=public_pem) as t:
        async with RestClientV5(key, private_pem, **t.rest_kwargs()) as client:
            print(f"talking to {t.where()} with {client!r}")
            wallet = (await client.get_wallet_balance(accountType="UNIFIED"))["result"]["list"][0]
            print(f"RSA-signed request accepted: wallet equity {wallet['totalEquity']} USD")


if __name__ == "__main__":
    asyncio.run(main())
