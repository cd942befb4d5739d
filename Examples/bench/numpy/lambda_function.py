"""Benchmark handler: numpy imported and a small model (a 512x512 matrix) built at Init.

`make bench` runs it only when the interpreter can import numpy.
"""
import numpy as np

RNG = np.random.default_rng(42)
WEIGHTS = RNG.standard_normal((512, 512))


def lambda_handler(event, context):
    x = np.ones(512)
    return {"norm": float(np.linalg.norm(WEIGHTS @ x))}
