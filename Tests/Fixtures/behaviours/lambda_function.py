"""Test fixture: one handler whose misbehaviour is chosen by the MODE environment variable (--env MODE=...)."""
import os
import sys
import time

from snapshot_restore_py import register_after_restore, register_before_snapshot

MODE = os.environ.get("MODE", "ok")
calls = []

if MODE == "init_raise":
    raise RuntimeError("init went wrong")
if MODE == "init_sleep":
    time.sleep(30)
if MODE == "init_exit":
    os._exit(3)
if MODE == "init_segv":
    import ctypes
    ctypes.string_at(0)          # SIGSEGV: killed by a signal during Init
if MODE == "init_deleted_file":
    # A 4 MB file held open after it was deleted: more than CRIU's ghost-file limit, so the dump fails.
    GHOST = open(os.path.join(os.environ["SCRATCH_DIR"], "ghost.bin"), "wb+")
    GHOST.write(b"\1" * (4 << 20))
    GHOST.flush()
    os.unlink(GHOST.name)
if MODE == "big_heap":
    HEAP = bytearray(os.urandom(1 << 20)) * 300  # 300 MB of memory that does not compress: slow dump and restore




def control_socket():
    """The runtime's Unix socket to the supervisor (the one AF_UNIX socket open), through a duplicate descriptor
    (closing it leaves the runtime's own open; shutdown acts on the connection itself)."""
    import socket
    import stat
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                s = socket.socket(fileno=os.dup(fd))
                if s.family == socket.AF_UNIX:
                    return s
                s.close()
        except OSError:
            pass
    raise RuntimeError("no control socket")


if MODE == "init_garbage":
    control_socket().sendall(b"this is not json\n")


def first(tag, *, suffix=""):
    calls.append("before:first:" + tag + suffix)


def second():
    calls.append("before:second")
    if MODE == "before_raise":
        raise ValueError("cannot snapshot now")
    if MODE == "before_hang":
        time.sleep(30)


register_before_snapshot(first, "a", suffix="!")
register_before_snapshot(second)


@register_after_restore
def after_one():
    calls.append("after:one")
    if MODE == "after_raise":
        raise KeyError("missing after restore")
    if MODE == "after_hang":
        time.sleep(30)
    if MODE == "after_garbage":
        control_socket().sendall(b'{"type": 42}\n')
    if MODE == "after_close_channel":
        import socket
        control_socket().shutdown(socket.SHUT_RDWR)


register_after_restore(lambda x, y=0: calls.append("after:two:%s:%s" % (x, y)), 7, y=8)


def lambda_handler(event, context):
    if MODE == "handler_raise":
        raise ValueError("bad event: %s" % event)
    if MODE == "handler_sleep":
        time.sleep(30)
    if MODE == "handler_print_10mb":
        print("x" * (10 << 20))
        print("\n".join("line %d" % i for i in range(1000)))
    if MODE == "handler_exit":
        sys.stdout.flush()
        os._exit(9)
    return {
        "calls": calls,
        "event": event,
        "env": {k: os.environ.get(k) for k in [
            "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "LAMBDA_TASK_ROOT", "_HANDLER", "TZ", "MODE",
            "EXTRA", "FROM_FILE", "HOME", "SNAPHARNESS_TEST_LEAK", "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME"]},
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "pid": os.getpid(),
        "runtime_client": "awslambdaric" if "awslambdaric" in sys.modules else "builtin",
        "uid": os.getuid(),
        "gid": os.getgid(),
    }
