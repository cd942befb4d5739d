"""Hooks registered at module level, and the hooks module imported during Init."""
from snapshot_restore_py import register_after_restore

import warmup  # noqa: F401  (importing it registers its hooks)

state = {"refreshed": False}


@register_after_restore
def refresh():
    state["refreshed"] = True


def lambda_handler(event, context):
    return {"refreshed": state["refreshed"]}
