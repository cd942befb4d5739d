"""Idempotency keys made unique per environment: regenerated and reseeded after every restore."""
import os
import random
import uuid

from snapshot_restore_py import register_after_restore

SESSION_ID = uuid.uuid4()


@register_after_restore
def make_environment_unique():
    global SESSION_ID
    SESSION_ID = uuid.uuid4()          # uuid4() reads the kernel's CSPRNG: unique after restore
    random.seed(os.urandom(32))        # user-space PRNG state must be reseeded explicitly


def lambda_handler(event, context):
    return {"session_id": str(SESSION_ID), "idempotency_key": "%016x" % random.getrandbits(64)}
