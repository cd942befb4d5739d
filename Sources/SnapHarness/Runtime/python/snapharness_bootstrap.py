"""snapharness runtime agent: the Python side of the function process (stdlib only).

It plays the part of Lambda's Python managed runtime (awslambdaric) under a local supervisor:
Init (import the handler) -> before-snapshot hooks -> park for the checkpoint -> (restored by CRIU) ->
after-restore hooks -> invocations. Hooks come from AWS's real `snapshot_restore_py` package and run exactly as
awslambdaric's lambda_runtime_hooks_runner runs them. Error types, messages and exit codes (64, 65) follow
awslambdaric. The control protocol is written down in docs/control-protocol.md.
"""
import decimal
import importlib
import json
import os
import resource
import signal
import socket
import sys
import time
import traceback

PROTOCOL = 1
EXIT_INIT_ERROR = 1
EXIT_BEFORE_SNAPSHOT_ERROR = 64
EXIT_AFTER_RESTORE_ERROR = 65

# Blocked before anything else: the restore signal must wait for sigwait, never kill us.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})


class Fault(Exception):
    def __init__(self, error_type, message, trace=None, hint=None):
        super().__init__(message)
        self.error_type, self.message, self.trace, self.hint = error_type, message, trace, hint


def make_error(message, error_type, trace, request_id=""):
    return {"errorMessage": message or "", "errorType": error_type or "", "requestId": request_id,
            "stackTrace": trace or []}


def fault_result(exc_info, request_id=""):
    etype, value, tb = exc_info
    frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__]
    return make_error(str(value), etype.__name__, traceback.format_list(frames), request_id)


def log_error(error):
    """Lambda's text log format for errors: "[ERROR] Type: message" and the traceback."""
    lines = ["[ERROR] %s: %s" % (error["errorType"], error["errorMessage"])]
    if error.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines += [frame.rstrip("\n") for frame in error["stackTrace"]]
    print("\n".join(lines), file=sys.stderr, flush=True)


class Channel:
    """JSON lines over the supervisor's Unix socket. The address arrives on stdin, one line per connection:
    a restored copy cannot know where the (possibly different) restoring supervisor listens."""

    def __init__(self):
        address = read_line(0)
        if not address:
            raise SystemExit("snapharness agent: no control socket address on stdin")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(address)
        self.reader = self.sock.makefile("rb")

    def send(self, message):
        self.sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def receive(self):
        line = self.reader.readline()
        if not line:
            return None
        return json.loads(line)

    def close(self):
        self.reader.close()
        self.sock.close()


def read_line(fd):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def get_handler(handler):
    """awslambdaric's _get_handler: same error types and messages."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault("Runtime.BuiltInModuleConflict",
                        "Cannot use built-in module {} as a handler module".format(modname))
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        hint = None
        if getattr(e, "name", None) == "snapshot_restore" or "'snapshot_restore'" in str(e):
            hint = ("the hooks package is imported as `snapshot_restore_py` (PyPI: snapshot-restore-py); "
                    "`import snapshot_restore` fails on Lambda too")
        raise Fault("Runtime.ImportModuleError", "Unable to import module '{}': {}".format(modname, e), hint=hint)
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault("Runtime.UserCodeSyntaxError", "Syntax error in module '{}': {}".format(modname, e), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", "Handler '{}' missing on module '{}'".format(fname, modname))


class Context:
    """The Lambda context object (awslambdaric's LambdaContext fields)."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def __repr__(self):
        return ("LambdaContext([aws_request_id={0.aws_request_id},function_name={0.function_name},"
                "function_version={0.function_version},memory_limit_in_mb={0.memory_limit_in_mb}])").format(self)


def _decimal(o):
    if isinstance(o, decimal.Decimal):
        return float(o) if o % 1 else int(o)
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


def max_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def hook_names(entries):
    return [getattr(f, "__qualname__", repr(f)) for f, _, _ in entries]


def invoke(channel, handler, message):
    request_id = message["requestId"]
    context = Context(request_id, message["deadlineMs"], message.get("invokedFunctionArn"))
    try:
        event = json.loads(message["event"])
        response = handler(event, context)
        try:
            payload = json.dumps(response, default=_decimal)
        except (TypeError, ValueError) as e:
            raise Fault("Runtime.MarshalError", "Unable to marshal response: {}".format(e))
    except Fault as f:
        error = make_error(f.message, f.error_type, f.trace, request_id)
        log_error(error)
        channel.send({"type": "error", "requestId": request_id, "error": error, "maxMemoryMB": max_memory_mb()})
        return
    except Exception:
        error = fault_result(sys.exc_info(), request_id)
        log_error(error)
        channel.send({"type": "error", "requestId": request_id, "error": error, "maxMemoryMB": max_memory_mb()})
        return
    channel.send({"type": "result", "requestId": request_id, "payload": payload, "maxMemoryMB": max_memory_mb()})


# Wall-clock start and end of Init, for telling timestamps computed at Init apart from constants.
INIT_WINDOW = [0.0, 0.0]


def inspect_facts(task_root):
    """Facts for `snapharness check`, gathered by snapharness_inspect (loaded only when asked, from our folder)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snapharness_inspect.py")
    spec = importlib.util.spec_from_file_location("snapharness_inspect", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    facts = module.gather(task_root, INIT_WINDOW)
    facts["type"] = "facts"
    return facts


def serve(channel, handler, task_root, until=None):
    """Answers `invoke` and `inspect` until the supervisor sends `until` (returned), `shutdown` or hangs up (None)."""
    while True:
        message = channel.receive()
        kind = message.get("type") if message else None
        if until is not None and kind == until:
            return message
        if kind == "invoke":
            invoke(channel, handler, message)
        elif kind == "inspect":
            channel.send(inspect_facts(task_root))
        else:
            return None


def main():
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    # Lambda's order: the function's own folder first (a bundled snapshot_restore_py wins), runtime libraries last.
    sys.path[0] = task_root
    runtime_lib = os.environ.get("SNAPHARNESS_RUNTIME_LIB")
    if runtime_lib:
        sys.path.append(runtime_lib)
    os.chdir(task_root)

    channel = Channel()
    INIT_WINDOW[0] = time.time()
    channel.send({"type": "hello", "protocol": PROTOCOL, "phase": "init", "pid": os.getpid()})

    # Init: module code of the handler.
    try:
        handler = get_handler(os.environ["_HANDLER"])
    except Fault as f:
        error = make_error(f.message, f.error_type, f.trace)
        log_error(error)
        channel.send({"type": "init_error", "error": error, "hint": f.hint})
        sys.exit(EXIT_INIT_ERROR)
    except Exception:
        error = fault_result(sys.exc_info())
        log_error(error)
        channel.send({"type": "init_error", "error": error})
        sys.exit(EXIT_INIT_ERROR)

    import snapshot_restore_py  # the managed runtime provides it, as Lambda's does

    INIT_WINDOW[1] = time.time()
    channel.send({"type": "init_done", "beforeSnapshotHooks": hook_names(snapshot_restore_py.get_before_snapshot()),
                  "afterRestoreHooks": hook_names(snapshot_restore_py.get_after_restore())})
    # Before the snapshot the supervisor may also inspect the fresh process or invoke it on demand (no snapshot:
    # Lambda's cold path), which `check` and `bench` use as references.
    if serve(channel, handler, task_root, until="before_snapshot") is None:
        sys.exit(0)

    # Before-snapshot hooks: reverse registration order (awslambdaric pops them off the list).
    try:
        hooks = snapshot_restore_py.get_before_snapshot()
        while hooks:
            func, args, kwargs = hooks.pop()
            func(*args, **kwargs)
    except BaseException:
        error = fault_result(sys.exc_info())
        log_error(error)
        channel.send({"type": "before_snapshot_error", "error": error})
        sys.exit(EXIT_BEFORE_SNAPSHOT_ERROR)

    # Park: close the channel (CRIU cannot dump a socket to a peer outside the tree) and wait for the restore signal.
    channel.send({"type": "snapshot_ready"})
    channel.close()
    signal.sigwait({signal.SIGUSR1})

    # Restored (possibly one of many copies). Reconnect to whichever supervisor restored us.
    channel = Channel()
    channel.send({"type": "hello", "protocol": PROTOCOL, "phase": "restore", "pid": os.getpid()})
    command = channel.receive()
    if not command or command.get("type") != "after_restore":
        sys.exit(0)
    # What Lambda changes in a restored environment before the hooks run (e.g. rotated container credentials).
    os.environ.update(command.get("environment") or {})
    try:
        for func, args, kwargs in snapshot_restore_py.get_after_restore():
            func(*args, **kwargs)
    except BaseException:
        error = fault_result(sys.exc_info())
        log_error(error)
        channel.send({"type": "after_restore_error", "error": error})
        sys.exit(EXIT_AFTER_RESTORE_ERROR)
    channel.send({"type": "restored"})
    serve(channel, handler, task_root)


if __name__ == "__main__":
    main()
