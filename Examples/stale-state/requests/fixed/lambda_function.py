"""The Session's pool is emptied before the snapshot: each copy opens its own connection on its first request."""
import logging
import os

import requests
from snapshot_restore_py import register_before_snapshot

logging.getLogger("urllib3").setLevel(logging.DEBUG)  # shows what the pool does with each connection
URL = "http://%s:%s/" % (os.environ.get("API_HOST", "127.0.0.1"), os.environ["API_PORT"])
SESSION = requests.Session()
SESSION.get(URL, timeout=5)  # fine to warm up (imports, DNS, settings) during Init...


@register_before_snapshot
def close_pool():
    SESSION.close()  # ...as long as the pool's connections are closed before the snapshot


def lambda_handler(event, context):
    reply = SESSION.get(URL, timeout=5)
    return {"status": reply.status_code, "server_connection": reply.json()["connection"]}
