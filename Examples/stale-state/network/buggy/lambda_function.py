"""A database-like connection opened during Init: dead in every restored copy."""
import os
import socket

DB = socket.create_connection((os.environ.get("DB_HOST", "127.0.0.1"), int(os.environ["DB_PORT"])))


def lambda_handler(event, context):
    DB.sendall(b"PING\n")          # BrokenPipeError after a restore: the connection did not survive
    return {"sent": True}
