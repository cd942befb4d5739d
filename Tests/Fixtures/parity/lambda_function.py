"""Test fixture: what a function can observe of the runtime client that runs it (the rows of the built-in runtime vs
awslambdaric table in shared notes). Both clients must report the same."""
import atexit
import os
import signal
import sys
import threading

atexit.register(lambda: print("atexit handler ran", file=sys.stderr, flush=True))


def thread_mask():
    seen = []
    t = threading.Thread(target=lambda: seen.extend(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    t.start()
    t.join()
    return sorted(s.name for s in seen)


def lambda_handler(event, context):
    return {
        "pid_is_1": os.getpid() == 1,
        "blocked_signals": sorted(s.name for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "thread_blocked_signals": thread_mask(),
        "usr1": str(signal.getsignal(signal.SIGUSR1)),
        "term": str(signal.getsignal(signal.SIGTERM)),
        "stdout_write_returns": repr(sys.stdout.write("")),
        "identity": type(context.identity).__name__,
        "client_context": repr(context.client_context),
        "has": sorted(a for a in ("tenant_id", "log", "w3c") if hasattr(context, a)),
        "memory_limit_type": type(context.memory_limit_in_mb).__name__,
        "trace_id_set": "_X_AMZN_TRACE_ID" in os.environ,
        "opt_on_path": [p for p in sys.path if p.startswith("/opt")],
        "task_root_first": sys.path[0] in ("/var/task", ""),
        "pth_processed": "/var/task/vendored" in sys.path,
        "pythonpath": os.environ.get("PYTHONPATH"),
        "main_module": getattr(sys.modules.get("__main__"), "__name__", None),
        "cwd": os.getcwd(),
    }
