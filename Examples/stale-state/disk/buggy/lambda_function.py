"""A lock file written to /tmp during Init: every restored copy finds the same "own" lock."""
import uuid

LOCK = "/tmp/instance.lock"
with open(LOCK, "w") as f:
    f.write(uuid.uuid4().hex)          # this environment's id... copied into every restored environment


def lambda_handler(event, context):
    with open(LOCK) as f:
        return {"lock_owner": f.read()}
