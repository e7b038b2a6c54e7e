"""Run requests at the same moment, to test what the database must keep true under races."""

import threading
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient


def run_together(app: FastAPI, calls: Sequence[Callable[[TestClient], Any]]) -> list[Any]:
    """Start every call (each given a client) at once, one thread each; their results."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))
    with TestClient(app) as client:

        def run(index: int) -> None:
            barrier.wait()
            results[index] = calls[index](client)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results
