"""Nonces cut from an entropy pool drawn during Init: every restored copy hands out the same ones."""
import os

POOL = os.urandom(4096)    # read once during Init; part of the snapshot
used = 0


def lambda_handler(event, context):
    global used
    nonce = POOL[used:used + 16]
    used += 16
    return {"nonce": nonce.hex()}
