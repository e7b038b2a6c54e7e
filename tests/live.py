"""The test app under uvicorn, for tests that need a real HTTP server (chunked bodies,
real clients such as GDAL). Import ``server`` (and ``LiveServer``) into the test module."""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI


@dataclass
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
def server(app: FastAPI) -> Iterator[LiveServer]:
    """The test app under uvicorn, in a thread, on a free port of 127.0.0.1."""
    listening = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if runner.started or not thread.is_alive():
                break
            thread.join(0.01)
        assert runner.started, "uvicorn did not start"
        yield LiveServer(*listening.getsockname()[:2])
    finally:
        runner.should_exit = True
        thread.join(10)
        listening.close()
