"""WebSocket clients: market/private streams and the trade socket."""
