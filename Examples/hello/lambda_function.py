"""Hello, SnapStart: shows what runs in each phase of the lifecycle, and in which order.

Module code runs once, during Init, before the snapshot. Before-snapshot hooks run in REVERSE registration order,
after-restore hooks in registration order (snapshot_restore_py, as on Lambda). Every restored copy starts from the
same memory: INIT_ID below is identical in all of them, RESTORE_ID differs.
"""
import os
import time
import uuid

from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_ID = uuid.uuid4().hex[:8]          # computed once, then frozen into the snapshot
INIT_AT = time.time()
state = {"phase": "init", "restore_id": None, "events": []}
print(f"[init] module loaded: init id {INIT_ID}, pid {os.getpid()}")


@register_before_snapshot
def close_resources():
    # Registered first, so it runs LAST before the snapshot.
    state["events"].append("before_snapshot:close_resources")
    print("[before-snapshot] close_resources (registered first, runs last)")


def warm_cache(name, size=1):
    state["events"].append(f"before_snapshot:warm_cache({name},{size})")
    print(f"[before-snapshot] warm_cache(name={name!r}, size={size}) (registered last, runs first)")


register_before_snapshot(warm_cache, "greetings", size=3)


@register_after_restore
def refresh_identity():
    state["restore_id"] = uuid.uuid4().hex[:8]   # unique per restored copy
    state["phase"] = "restored"
    state["events"].append("after_restore:refresh_identity")
    print(f"[after-restore] refresh_identity -> restore id {state['restore_id']}")


def log_gap(label):
    gap = time.time() - INIT_AT
    state["events"].append(f"after_restore:log_gap({label})")
    print(f"[after-restore] log_gap({label!r}): {gap:.3f} s of wall clock since Init")


register_after_restore(log_gap, "since-init")


def lambda_handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    print(f"[invoke] request {context.aws_request_id} in {context.function_name}, "
          f"{context.get_remaining_time_in_millis()} ms left")
    return {
        "message": f"Hello, {name}!",
        "init_id": INIT_ID,
        "restore_id": state["restore_id"],
        "initialization_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "hooks": state["events"],
    }
