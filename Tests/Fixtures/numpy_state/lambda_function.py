"""Test fixture: numpy's global generator seeded during Init (state shared by every restored copy)."""
import numpy as np

WEIGHTS = np.random.rand(4)


def lambda_handler(event, context):
    return {"sample": float(np.random.rand())}
