"""Test fixture: at import, double-forks a daemon that sleeps 300 s, then returns {"fork": <mode>, "daemonPid": <pid
as the function sees it>} from every invocation.

FORK=os (default) forks with os.fork, so Python's at-fork hooks run (the agent closes its control socket in the
children). FORK=ctypes forks with libc's fork() through ctypes, so no at-fork hook runs: the daemon keeps a copy of the
agent's control socket. The daemon's stdin/stdout/stderr go to /dev/null (set DAEMON_STDIO=keep to keep the
function's pipes), so only the control socket is at stake.
"""
import ctypes
import os
import time

FORK = os.environ.get("FORK", "os")
fork = ctypes.CDLL(None, use_errno=True).fork if FORK == "ctypes" else os.fork


def _daemonise(write_end):
    os.setsid()
    pid = fork()
    if pid > 0:                      # first child: report the daemon's pid and go
        os.write(write_end, str(pid).encode())
        os._exit(0)
    if pid < 0:
        os._exit(1)
    if os.environ.get("DAEMON_STDIO") != "keep":
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    time.sleep(300)
    os._exit(0)


read_end, write_end = os.pipe()
first = fork()
if first == 0:
    os.close(read_end)
    try:
        _daemonise(write_end)
    finally:
        os._exit(1)
if first < 0:
    raise OSError(ctypes.get_errno(), "fork failed")
os.close(write_end)
DAEMON_PID = int(os.read(read_end, 32) or 0)
os.close(read_end)
os.waitpid(first, 0)


def handler(event, context):
    return {"fork": FORK, "daemonPid": DAEMON_PID}
