"""Test fixture: reports what the execution environment looks like from inside (after a restore, in the handler):
paths, read-only places, limits, the interpreter, the environment variables Lambda sets or leaves out."""
import errno
import os
import resource
import sys

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
    }
