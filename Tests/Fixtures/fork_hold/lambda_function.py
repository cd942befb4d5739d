"""Test fixture: forks up to `n` children that live `hold` seconds, holds them for `hold` seconds itself, and
reports how many it could start and the error that stopped it."""
import os
import time


def lambda_handler(event, context):
    n, hold = int(event.get("n", 1)), float(event.get("hold", 1))
    started, error = 0, None
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as e:
            error = os.strerror(e.errno)
            break
        if pid == 0:
            time.sleep(hold + 2)
            os._exit(0)
        started += 1
    time.sleep(hold)
    return {"started": started, "error": error}
