"""The Generator is made again in every restored copy, from fresh OS entropy."""
import numpy as np
from snapshot_restore_py import register_after_restore

RNG = np.random.default_rng()


@register_after_restore
def reseed():
    global RNG
    RNG = np.random.default_rng()


def lambda_handler(event, context):
    return {"sample_id": int(RNG.integers(1 << 62)), "jitter": float(RNG.random())}
