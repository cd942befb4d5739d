"""Test fixture: a connection to a service on the host's loopback (HOST_PORT), opened during Init. In every restored
copy it must be dead (as on Lambda), while a new connection works and the runtime keeps serving."""
import os
import socket

PORT = int(os.environ["HOST_PORT"])
INIT_CONNECTION = socket.create_connection(("127.0.0.1", PORT), timeout=5)
INIT_CONNECTION.sendall(b"init\n")


def lambda_handler(event, context):
    try:
        INIT_CONNECTION.sendall(b"from a restored copy\n")
        data = INIT_CONNECTION.recv(1)
        init_connection = "alive" if data else "closed by the peer"
    except OSError as e:
        init_connection = type(e).__name__
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as fresh:
        fresh.sendall(b"new\n")
    return {"init_connection": init_connection, "pid": os.getpid()}
