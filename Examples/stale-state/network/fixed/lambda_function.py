"""The connection is closed before the snapshot and reopened after every restore."""
import os
import socket

from snapshot_restore_py import register_after_restore, register_before_snapshot

ADDRESS = (os.environ.get("DB_HOST", "127.0.0.1"), int(os.environ["DB_PORT"]))
DB = socket.create_connection(ADDRESS)   # fine to warm up during Init...


@register_before_snapshot
def disconnect():
    global DB
    DB.close()                            # ...as long as it is closed before the snapshot
    DB = None


@register_after_restore
def reconnect():
    global DB
    DB = socket.create_connection(ADDRESS)


def lambda_handler(event, context):
    DB.sendall(b"PING\n")
    return {"sent": True}
