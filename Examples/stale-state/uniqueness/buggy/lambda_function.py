"""Idempotency keys that collide: the session id and the random generator are set up during Init."""
import random
import uuid

SESSION_ID = uuid.uuid4()          # made once, during Init, then frozen into the snapshot
random.seed()                      # seeded from the OS during Init: every restored copy has the same state


def lambda_handler(event, context):
    return {"session_id": str(SESSION_ID), "idempotency_key": "%016x" % random.getrandbits(64)}
