"""Benchmark handler: a /tmp filled during Init (TMP_MB, default 200), e.g. a model or a dataset fetched once.

The file is random bytes (a real model does not compress), and it is opened and memory-mapped during Init, as a
model loader would keep it. The handler reads one byte per MiB of a 4 MiB window of it.
"""
import mmap
import os

TMP_MB = int(os.environ.get("TMP_MB", "200"))
if TMP_MB:
    with open("/tmp/model.bin", "wb") as f:
        for _ in range(TMP_MB):
            f.write(os.urandom(1 << 20))
    MODEL = open("/tmp/model.bin", "rb")
    VIEW = mmap.mmap(MODEL.fileno(), 0, prot=mmap.PROT_READ)
else:
    VIEW = b""


def lambda_handler(event, context):
    window = range(0, min(len(VIEW), 4 << 20), 1 << 20)
    return {"tmp_mb": TMP_MB, "sample": sum(VIEW[i] for i in window)}
