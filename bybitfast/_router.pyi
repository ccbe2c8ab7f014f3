"""Type stub of the native frame router (native/router.pyx)."""

from collections.abc import Callable
from typing import Any

KIND_OTHER: int
KIND_DATA: int
KIND_PONG: int
KIND_SUBSCRIBE: int
KIND_UNSUBSCRIBE: int
KIND_AUTH: int
KIND_WS_API: int
KIND_PING: int
KIND_NAMES: tuple[str, ...]

def _set_errors(frame_error: type[Exception], book_errors: tuple[type[Exception], ...]) -> None: ...
def frame_info(frame: bytes | str | bytearray | memoryview) -> tuple[str | None, str | None, int, int]: ...
def frame_kind(frame: bytes | str | bytearray | memoryview) -> tuple[int, str | None]: ...

class Router:
    on_control: Callable[[str, str | None, Any], Any] | None
    on_unhandled: Callable[[bytes | str], Any] | None
    on_book_error: Callable[[str, Any, Exception], Any] | None
    dispatched: int
    unhandled: int
    def __init__(self, *, on_control: Callable[[str, str | None, Any], Any] | None = None,
                 on_unhandled: Callable[[bytes | str], Any] | None = None,
                 on_book_error: Callable[[str, Any, Exception], Any] | None = None) -> None: ...
    def add_book(self, book: Any, topic: str | None = None) -> None: ...
    def add(self, topic: str, handler: Callable[[Any], Any], *, raw: bool = False) -> None: ...
    def remove(self, topic: str) -> None: ...
    def topics(self) -> list[str]: ...
    def route(self, topic: str) -> Any: ...
    def dispatch(self, frame: bytes | str | bytearray | memoryview) -> int: ...
