"""Test fixture for `serve`: Init state shared by every environment, after-restore state per environment, and an
event that can make the handler sleep or raise."""
import threading
import time
import uuid

from snapshot_restore_py import register_after_restore

INIT_ID = uuid.uuid4().hex
RESTORE_ID = None
TICKS = [0]  # a background thread's progress: frozen between invocations, as on Lambda


def tick():
    while True:
        time.sleep(0.01)
        TICKS[0] += 1


threading.Thread(target=tick, daemon=True).start()


@register_after_restore
def new_identity():
    global RESTORE_ID
    RESTORE_ID = uuid.uuid4().hex


def lambda_handler(event, context):
    print("handling", context.aws_request_id)
    time.sleep(event.get("sleep", 0))
    if event.get("raise"):
        raise ValueError("asked to fail: %s" % event["raise"])
    custom = context.client_context.custom if context.client_context else None
    return {"init_id": INIT_ID, "restore_id": RESTORE_ID, "event": event, "custom": custom, "ticks": TICKS[0]}
