"""Type stub of the compiled ``bybitfast._sign`` (native/sign.pyx)."""

from collections.abc import Callable
from typing import Literal

from typing_extensions import Buffer

_Backend = Literal["shani", "portable", "hashlib"]

def available_backends() -> tuple[_Backend, ...]: ...
def get_backend() -> _Backend: ...
def set_backend(name: Literal["auto", "shani", "portable", "hashlib"]) -> None: ...
def sha256(data: Buffer) -> bytes: ...

class SignerCore:
    """HMAC-SHA256 hex in C, or an external ``bytes -> str`` signer (RSA)."""

    @property
    def is_rsa(self) -> bool: ...
    def __init__(
        self,
        hmac_key: bytes | None = None,
        external: Callable[[bytes], str] | None = None,
        is_rsa: bool = False,
    ) -> None: ...
    def sign(self, message: str, /) -> str: ...
    def sign_bytes(self, message: Buffer, /) -> str: ...
