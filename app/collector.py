"""Python's cycle collector paused around work that builds many acyclic objects."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects (a large
    feed's features, an import's rows, models and dicts): otherwise it walks every one of
    them again and again, which doubled the time of a large feed and took a fifth of an
    import's CPU. What reference counting frees is freed as ever.

    The pause is process-wide: in a web worker the other requests' cycles wait for its end
    (seconds, or a minute for a large import) to be collected, a little memory for a while.
    Nested or concurrent pauses leave it to the outermost one started to resume it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
