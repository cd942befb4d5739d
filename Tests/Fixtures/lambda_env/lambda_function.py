"""Test fixture: reports what the execution environment looks like from inside (after a restore, in the handler):
paths, read-only places, limits, the interpreter, the environment variables Lambda sets or leaves out. With
{"allocateMB": N} it allocates and touches N MB instead and returns {"allocatedMB": N}."""
import errno
import os
import resource
import sys

if os.environ.get("INIT_ALLOCATE_MB"):  # Init that needs more than the memory size
    INIT_BLOCK = bytearray(int(os.environ["INIT_ALLOCATE_MB"]) << 20)
    for _i in range(0, len(INIT_BLOCK), 4096):
        INIT_BLOCK[_i] = 1

try:
    import layer_module  # only when a layer provides it
    LAYER = layer_module.NAME
except ImportError:
    LAYER = None


def attempt(action):
    try:
        action()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def write(path):
    with open(path, "w") as f:
        f.write("x")


def open_many():
    files = []
    try:
        for _ in range(2000):
            files.append(open("/dev/null"))
    finally:
        for f in files:
            f.close()


def pool():
    import multiprocessing
    multiprocessing.Pool(1).close()


def handler(event, context):
    if isinstance(event, dict) and event.get("allocateMB"):
        block = bytearray(int(event["allocateMB"]) << 20)  # zeroed pages, touched below
        for i in range(0, len(block), 4096):
            block[i] = 1
        return {"allocatedMB": len(block) >> 20}
    return {
        "cwd": os.getcwd(),
        "file": __file__,
        "executable": sys.executable,
        "version": list(sys.version_info[:2]),
        "writeTask": attempt(lambda: write("/var/task/probe")),
        "writeEtc": attempt(lambda: write("/etc/snapharness-probe")),
        "writeTmp": attempt(lambda: write("/tmp/probe")),
        "pool": attempt(pool),
        "manyFiles": attempt(open_many),
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "nproc": list(resource.getrlimit(resource.RLIMIT_NPROC)),
        "env": {k: os.environ.get(k) for k in ("LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "PATH", "LD_LIBRARY_PATH", "LANG",
                                               "TZ", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")},
        "layer": LAYER,
        "path": sys.path,
        "uid": os.getuid(),
        "boto3": boto3_facts(),
    }


def boto3_facts():
    import boto3
    return {"version": boto3.__version__, "file": boto3.__file__}
