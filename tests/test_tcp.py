"""`memorial serve` turns Nagle's algorithm off on every connection (app.tcp): with
several workers uvicorn's own socket leaves it on, and each response then waits ~40 ms
for the client's delayed ACK."""

import asyncio
import socket
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from app.tcp import NoDelayH11Protocol


class FakeTransport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {
            "socket": self.sock,
            "peername": ("127.0.0.1", 1),
            "sockname": ("127.0.0.1", 2),
        }.get(name, default)

    def is_closing(self) -> bool:
        return False


def test_a_connection_gets_tcp_nodelay() -> None:
    # protocol 0, as uvicorn binds the shared socket when it runs several workers
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        config = Config(app=_asgi_app)
        config.load()
        # a loop of its own: an earlier test in this process may have closed the current one
        loop = asyncio.new_event_loop()
        try:
            protocol = NoDelayH11Protocol(
                config=config, server_state=ServerState(), app_state={}, _loop=loop
            )
            protocol.connection_made(FakeTransport(sock))  # type: ignore[arg-type]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            loop.close()
    finally:
        sock.close()


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    pass
