"""A throw-away aiohttp server on a free loopback port, for tests that script the far end."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def serve_loopback(app: web.Application, **runner_options: Any) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1 at a free port: its runner (``await runner.cleanup()`` when done) and the port."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # noqa: SLF001
