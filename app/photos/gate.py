"""The decoding gate: how many photos one worker process decodes at once, and how much
memory their pixels may take together.

A 127 KiB PNG can declare 40 megapixels; decoded, that is 160 MiB of pixels and seconds of
CPU. Request threads are many (40 in the sync pool), so without a gate one signed-in user
could make a worker decode dozens at once and run it out of memory. Each upload reserves
its estimated cost (``processing.decode_cost``, worked out from the header before any pixel
is decoded) and decodes only when a slot is free and the reservation fits in the budget.
The rest wait in line, first come first served, for a few seconds; an upload that cannot
get in by then, or finds the line full, is answered 503 with ``Retry-After`` (the phone's
outbox sends it again later). A photo whose cost alone exceeds the budget never fits and
is refused before waiting (``processing`` says so with a 422).
"""

import ctypes
import ctypes.util
import functools
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from app.config import Settings
from app.errors import ServiceUnavailable

MIB = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


@functools.cache  # a setting of the whole process: once, before its first decode
def return_freed_pixels_to_the_system() -> None:
    """Have glibc map every allocation of 1 MiB or more on its own, and unmap it when freed.

    Pillow holds an image in 16 MiB blocks. By default glibc raises its mmap threshold
    after the first such block is freed, and later blocks come from per-thread heaps that
    keep freed memory: a worker that decoded one large photo in each of its request
    threads then stays at the sum of them, though each decode ended long ago (measured:
    20 hostile uploads left +323 MiB, +168 MiB with the threshold pinned). A fixed
    threshold also turns the dynamic adjustment off. Elsewhere (musl, macOS) nothing.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(_M_MMAP_THRESHOLD, MIB)
    except OSError:
        pass


class DecodeGate:
    """At most ``slots`` decodes at once, holding at most ``budget_bytes`` between them;
    at most ``queue`` uploads wait, each at most ``wait_seconds``."""

    def __init__(self, *, slots: int, budget_bytes: int, queue: int, wait_seconds: float) -> None:
        self.slots = slots
        self.budget_bytes = budget_bytes
        self.queue = queue
        self.wait_seconds = wait_seconds
        self._lock = threading.Condition()
        self._line: deque[object] = deque()
        self._active = 0
        self._reserved = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> "DecodeGate":
        return_freed_pixels_to_the_system()
        return cls(
            slots=settings.photo_decode_slots,
            budget_bytes=settings.photo_decode_memory_mb * MIB,
            queue=settings.photo_decode_queue,
            wait_seconds=settings.photo_decode_wait_seconds,
        )

    @property
    def waiting(self) -> int:
        """Uploads standing in line for a slot or for memory."""
        return len(self._line)

    @property
    def retry_after(self) -> str:
        return str(max(1, round(self.wait_seconds)))

    def _busy(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            "The server is busy processing other photos; send this photo again in a moment",
            retry_after=self.retry_after,
        )

    def _room(self, cost: int) -> bool:
        return self._active < self.slots and self._reserved + cost <= self.budget_bytes

    @contextmanager
    def reserve(self, cost: int) -> Iterator[None]:
        """Hold a slot and ``cost`` bytes of the budget for the duration of the block."""
        cost = min(cost, self.budget_bytes)  # the caller refuses what can never fit
        with self._lock:
            if self._line or not self._room(cost):
                self._wait_in_line(cost)
            self._active += 1
            self._reserved += cost
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._reserved -= cost
                self._lock.notify_all()

    def _wait_in_line(self, cost: int) -> None:
        """Wait (holding the lock's condition) until first in line and there is room."""
        if len(self._line) >= self.queue:
            raise self._busy()
        ticket = object()
        self._line.append(ticket)
        deadline = time.monotonic() + self.wait_seconds
        try:
            while not (self._line[0] is ticket and self._room(cost)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._busy()
                self._lock.wait(left)
        finally:
            self._line.remove(ticket)
            self._lock.notify_all()  # the next in line may fit now
