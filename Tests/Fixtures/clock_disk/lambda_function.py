"""Test fixture: what a restored copy sees of the clock and of /tmp."""
import os
import time
import uuid

INIT_WALL = time.time()
INIT_MONO = time.monotonic()
with open("/tmp/init.txt", "w") as f:
    f.write("written during Init")


def lambda_handler(event, context):
    action = event.get("action")
    mine = None
    if action == "write":
        mine = "copy-%s.txt" % uuid.uuid4().hex[:8]
        with open("/tmp/" + mine, "w") as f:
            f.write("x")
    if action == "fill":
        with open("/tmp/big", "wb") as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(int(event["mb"])):
                f.write(chunk)
    with open("/tmp/init.txt") as f:
        init_file = f.read()
    return {"wall_gap": time.time() - INIT_WALL, "mono_gap": time.monotonic() - INIT_MONO,
            "tmp": sorted(os.listdir("/tmp")), "mine": mine, "init_file": init_file}
