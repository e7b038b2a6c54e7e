"""uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

With ``--workers`` above 1, uvicorn binds the listening socket itself with protocol 0,
and asyncio sets ``TCP_NODELAY`` only on sockets whose protocol reads IPPROTO_TCP; so
the workers' connections keep Nagle's algorithm on. A response goes out as two writes
(head, then body): the body then waits for the client's delayed ACK of the head, about
40 ms on Linux, on every request of a keep-alive connection. ``memorial serve`` names
this class as uvicorn's ``http`` protocol, which sets the option itself.
"""

import socket
from asyncio import Transport

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
