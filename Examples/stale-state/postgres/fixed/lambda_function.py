"""The connection is closed before the snapshot and opened again in every restored copy."""
import psycopg
from snapshot_restore_py import register_after_restore, register_before_snapshot

DB = psycopg.connect(autocommit=True)  # fine to warm up (and check the settings) during Init...
DB.execute("select 1")


@register_before_snapshot
def disconnect():
    global DB
    DB.close()                          # ...as long as it is closed before the snapshot
    DB = None


@register_after_restore
def reconnect():
    global DB
    DB = psycopg.connect(autocommit=True)


def lambda_handler(event, context):
    row = DB.execute("select pg_backend_pid()").fetchone()
    return {"backend_pid": row[0]}
