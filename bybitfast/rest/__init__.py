"""The V5 REST client.

``client.py`` (:class:`RestClientV5`: session, signing, errors), ``endpoints.py`` (the 411 methods
as data), ``_methods.py`` (the methods generated from that table), ``ratelimit.py``
(X-Bapi-Limit* state), ``timesync.py`` (clock offset). ``RestClientV5`` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import RestClientV5

__all__ = ["RestClientV5"]


def __getattr__(name: str) -> Any:
    if name == "RestClientV5":
        from .client import RestClientV5

        return RestClientV5
    raise AttributeError(f"module 'bybitfast.rest' has no attribute {name!r}")
