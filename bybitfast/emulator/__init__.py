"""A local Bybit V5 exchange: REST and WebSocket on one loopback port, for tests, demos and benchmarks.

``async with Emulator() as ex:`` then point any client at ``ex.rest_url`` / ``ex.ws_url``.
"""

from .common import DEFAULT_API_KEY, DEFAULT_API_SECRET
from .faults import Faults
from .server import Emulator
from .threaded import ThreadedEmulator

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "Emulator", "Faults", "ThreadedEmulator"]
