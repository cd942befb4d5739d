"""Test fixture: sockets bound during Init (a listening TCP socket, a UDP socket) and, in the handler, a connection to
a service on the host's loopback (HOST_PORT). Each restored copy must have all three, in a network of its own.
LISTEN_PORT fixes the listener's port; an event's "hold" keeps the copy busy that many seconds after its work."""
import os
import socket
import time

LISTENER = socket.socket()
LISTENER.bind(("127.0.0.1", int(os.environ.get("LISTEN_PORT", "0"))))  # chosen at Init: the same in every copy
LISTENER.listen()
UDP = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
UDP.bind(("127.0.0.1", 0))


def lambda_handler(event, context):
    client = socket.create_connection(LISTENER.getsockname(), timeout=5)
    served, _ = LISTENER.accept()
    client.sendall(b"t")
    tcp = served.recv(1).decode()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(b"u", UDP.getsockname())
    udp = UDP.recv(1).decode()
    with socket.create_connection(("127.0.0.1", int(os.environ["HOST_PORT"])), timeout=5) as host:
        host.sendall(b"hello from the function\n")
    time.sleep(float(event.get("hold", 0)))
    return {"netns": os.readlink("/proc/self/ns/net"), "tcp": tcp, "udp": udp, "port": LISTENER.getsockname()[1],
            "interfaces": sorted(name for _, name in socket.if_nameindex())}
