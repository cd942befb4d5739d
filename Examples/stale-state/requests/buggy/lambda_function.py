"""A requests Session warmed up during Init: its pool keeps a keep-alive connection, which is in the snapshot."""
import logging
import os

import requests

logging.getLogger("urllib3").setLevel(logging.DEBUG)  # shows what the pool does with each connection
URL = "http://%s:%s/" % (os.environ.get("API_HOST", "127.0.0.1"), os.environ["API_PORT"])
SESSION = requests.Session()
SESSION.get(URL, timeout=5)


def lambda_handler(event, context):
    reply = SESSION.get(URL, timeout=5)  # works: urllib3 finds the pooled connection dead and opens another
    return {"status": reply.status_code, "server_connection": reply.json()["connection"]}
