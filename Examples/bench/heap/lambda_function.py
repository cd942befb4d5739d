"""Benchmark handler: a large heap built at Init (HEAP_MB, default 500), e.g. a model or a cache loaded once.

Every page is written (a pattern, not zeros) so the whole heap is in the snapshot. The handler reads one byte
per MiB of a 4 MiB window, as a request that needs a small part of the state would: with a lazy restore the
rest of the heap arrives in the background.
"""
import os

HEAP_MB = int(os.environ.get("HEAP_MB", "500"))
HEAP = bytearray(b"\x5a") * (HEAP_MB << 20)


def lambda_handler(event, context):
    window = range(0, min(len(HEAP), 4 << 20), 1 << 20)
    return {"heap_mb": HEAP_MB, "sample": sum(HEAP[i] for i in window)}
