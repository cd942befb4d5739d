"""Test fixture: the import name seen in third-party quick starts, which fails on Lambda too."""
from snapshot_restore import register_before_snapshot  # noqa: F401


def lambda_handler(event, context):
    return "unreachable"
