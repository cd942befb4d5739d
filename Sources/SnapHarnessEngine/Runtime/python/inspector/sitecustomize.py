"""snapharness's inspector inside awslambdaric's interpreter, for `snapharness check` only.

Python imports `sitecustomize` at start-up; the Runtime API server puts this folder first on PYTHONPATH when (and only
when) the function is being checked, so awslambdaric itself stays as Lambda starts it. The inspector listens on an
abstract Unix socket (private to the environment's network namespace, so every restored copy has its own) and answers
one JSON line per connection from the API server:
  {"op": "hooks"}                    -> {"afterRestore": [...], "pendingBeforeSnapshot": [...]}
  {"op": "facts", "initEnd": <time>, "restored": <bool>}
                                     -> snapharness_agent/inspector.py gather(...), what the built-in agent reports as `facts`
"""
import json
import os
import socket
import sys
import threading
import time

ADDRESS = "\0snapharness-inspect"
_START = time.time()
_HERE = os.path.dirname(os.path.abspath(__file__))
# Gone from sys.path once loaded: the function's imports must resolve as they would on Lambda.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


def _load_gatherer():
    import importlib.util
    # By path, so nothing of the package is imported into the runtime's process (or its sys.modules).
    path = os.path.join(os.path.dirname(_HERE), "snapharness_agent", "inspector.py")
    spec = importlib.util.spec_from_file_location("snapharness_agent.inspector", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _names(entries):
    return [getattr(f, "__qualname__", repr(f)) for f, _, _ in entries]


def _answer(request):
    if request.get("op") == "hooks":
        srp = sys.modules.get("snapshot_restore_py")
        return {"afterRestore": _names(srp.get_after_restore()) if srp else [],
                "pendingBeforeSnapshot": _names(srp.get_before_snapshot()) if srp else []}
    window = [_START, float(request.get("initEnd") or time.time())]
    return _load_gatherer().gather(os.environ["LAMBDA_TASK_ROOT"], window, restored=request.get("restored", True))


def _serve(listener):
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        with conn:
            stream = conn.makefile("rwb")
            try:
                reply = _answer(json.loads(stream.readline() or b"{}"))
            except Exception as e:  # the function's state may be anything; say what went wrong instead of dying
                reply = {"inspectorError": "%s: %s" % (type(e).__name__, e)}
            stream.write(json.dumps(reply, default=str).encode() + b"\n")
            stream.flush()


def _start():
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(ADDRESS)  # bound now, before the runtime can ask restore/next
    listener.listen(4)
    threading.Thread(target=_serve, args=(listener,), name="snapharness-inspector", daemon=True).start()


_start()
