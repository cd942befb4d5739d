"""Hooks of this module run because lambda_function imports it during Init."""
from snapshot_restore_py import register_after_restore, register_before_snapshot


@register_before_snapshot
def flush_caches():
    print("flushing caches")


@register_after_restore
def reconnect():
    print("reconnecting")
