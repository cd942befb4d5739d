"""A process with state worth checkpointing: a counter that keeps advancing and an open TCP connection.

Every 20 ms it bumps the counter, tries to send it over the connection and prints what happened. Restored from a
snapshot, each copy continues from the checkpointed count, and its TCP socket is dead (CRIU's tcp-close, what Lambda
does to connections opened during Init).

usage: counter.py [HOST PORT]   (without a peer it only counts)
"""
import socket
import sys
import time

conn = socket.create_connection((sys.argv[1], int(sys.argv[2]))) if len(sys.argv) > 2 else None
count = 0
while True:
    count += 1
    status = "none"
    if conn is not None:
        try:
            conn.sendall(b"%d\n" % count)
            status = "ok"
        except OSError as e:
            status = "dead:" + type(e).__name__
    print(f"count={count} tcp={status}", flush=True)
    time.sleep(0.02)
