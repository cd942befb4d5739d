"""Test fixture: a /tmp written during Init (a 50 MB file and an open SQLite database) seen by restored copies."""
import hashlib
import os
import sqlite3
import uuid

BIG_MB = int(os.environ.get("BIG_MB", "50"))
with open("/tmp/model.bin", "wb") as f:
    block = hashlib.sha256(b"init").digest() * 32768  # 1 MiB, deterministic
    for _ in range(BIG_MB):
        f.write(block)
with open("/tmp/model.bin", "rb") as f:
    INIT_DIGEST = hashlib.sha256(f.read()).hexdigest()
DB = sqlite3.connect("/tmp/state.db", check_same_thread=False)
DB.execute("create table rows (who text)")
DB.execute("insert into rows values ('init')")
DB.commit()
INIT_INODE = os.stat("/tmp/state.db").st_ino


def lambda_handler(event, context):
    me = uuid.uuid4().hex[:8]
    DB.execute("insert into rows values (?)", (me,))  # a write through the connection opened during Init
    DB.commit()
    with open("/tmp/copy-" + me, "w") as f:
        f.write(me)
    with open("/tmp/model.bin", "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"me": me, "rows": [r[0] for r in DB.execute("select who from rows")],
            "model_intact": digest == INIT_DIGEST, "inode_kept": os.stat("/tmp/state.db").st_ino == INIT_INODE,
            "tmp": sorted(os.listdir("/tmp"))}
