"""Nonces from an entropy pool that is refilled after every restore."""
import os

from snapshot_restore_py import register_after_restore

POOL = os.urandom(4096)
used = 0


@register_after_restore
def refill_pool():
    global POOL, used
    POOL, used = os.urandom(4096), 0


def lambda_handler(event, context):
    global used
    nonce = POOL[used:used + 16]
    used += 16
    return {"nonce": nonce.hex()}
