"""Stale state: a generator object made during Init. Its state is in the snapshot, so every restored copy draws the
same "random" sequence; reseeding the `random` module would not help, the object has its own state."""
import random

_rng = random.Random()  # seeded from os.urandom once, at Init


def lambda_handler(event, context):
    return {"order_id": "%08x" % _rng.getrandbits(32)}
