"""The SAM example's code: both functions read what the template gave them."""
import os
import uuid

from shared_config import describe  # from the layer, under /opt/python
from snapshot_restore_py import register_after_restore

INIT_ID = uuid.uuid4().hex[:8]
RESTORE_ID = None


@register_after_restore
def new_identity():
    global RESTORE_ID
    RESTORE_ID = uuid.uuid4().hex[:8]


def handler(event, context):
    return {
        "message": "%s, %s!" % (os.environ.get("GREETING", "Hi"), event.get("name", "world")),
        "stage": os.environ["STAGE"],
        "table": os.environ["TABLE_NAME"],
        "layer": describe(),
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function": context.function_name,
        "tmp_mb": os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize // (1 << 20),
        "init_id": INIT_ID,
        "restore_id": RESTORE_ID,
    }


def report(event, context):
    return {"function": context.function_name, "memory": context.memory_limit_in_mb, "stage": os.environ["STAGE"]}
