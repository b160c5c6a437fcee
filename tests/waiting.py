"""Waiting across processes: poll a condition until it holds, up to a cap
generous enough for a loaded 2-core machine (never a sub-second deadline)."""
import time


def wait_until(condition, message, cap=300, interval=0.2):
    """The first truthy value of `condition()`, polled every `interval`
    seconds; AssertionError with `message` (or `message()`) after `cap`."""
    deadline = time.monotonic() + cap
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message() if callable(message) else message} (after {cap} s)")
        time.sleep(interval)
