"""The lock file is written per environment, after restore; Init-time scratch is removed before the snapshot."""
import os
import uuid

from snapshot_restore_py import register_after_restore, register_before_snapshot

LOCK = "/tmp/instance.lock"
with open(LOCK, "w") as f:
    f.write("init")


@register_before_snapshot
def clean_tmp():
    os.remove(LOCK)


@register_after_restore
def claim_lock():
    with open(LOCK, "w") as f:
        f.write(uuid.uuid4().hex)


def lambda_handler(event, context):
    with open(LOCK) as f:
        return {"lock_owner": f.read()}
