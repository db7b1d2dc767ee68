"""Polling for the tests that watch a worker process: wait until a condition holds, or fail saying which."""
import time

WAIT = 180.0  # seconds; a worker imports torch, slow on a busy machine


def wait_for(predicate, timeout: float = WAIT, what: str = "condition", every: float = 0.1):
    """``predicate()``'s first truthy value, polled every ``every`` seconds; AssertionError after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
