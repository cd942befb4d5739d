"""snapharness runtime agent: the Python side of the function process (started as snapharness_bootstrap.py).

It plays the part of Lambda's Python managed runtime (awslambdaric 4.2.2) under a local supervisor:
Init (import the handler) -> before-snapshot hooks -> park for the checkpoint -> (restored by CRIU) ->
after-restore hooks -> invocations. Hooks come from AWS's real `snapshot_restore_py` package and run exactly as
awslambdaric's lambda_runtime_hooks_runner runs them. Error types, messages and exit codes (64, 65) follow
awslambdaric; result marshalling, the context object and logging follow it too (snapharness_ric, which needs the
runtime library simplejson). The control protocol is written down in docs/control-protocol.md.
"""
import os
import signal
import sys

import importlib
import logging
import resource
import time

from . import PACKAGE, protocol
from .channel import Channel

# snapharness_ric is loaded from the agent's folder (snapharness_agent.FOLDER), still sys.path[0] while the agent loads (it stays there, beside the entry
# scripts: its path is in the stack traces of failed hooks, as awslambdaric's hooks runner is on Lambda).
# The runtime library folder first while the runtime's own modules load: simplejson is the pinned copy from
# `make deps` even when the function bundles another (the function's `import simplejson` then gets this one, already
# loaded, as on Lambda, whose runtime imports simplejson before the function's folder matters).
_RUNTIME_LIB = os.environ.get("SNAPHARNESS_RUNTIME_LIB")
if _RUNTIME_LIB:
    sys.path.insert(0, _RUNTIME_LIB)
try:
    import snapharness_ric as ric
    RIC_ERROR = None
except ImportError as e:  # reported as an init_error once connected
    ric, RIC_ERROR = None, e
finally:
    if _RUNTIME_LIB:
        sys.path.remove(_RUNTIME_LIB)

# Lambda's extensions (extensions.py), loaded only when the function has any, and while the agent's folder is still
# sys.path[0]: a function without extensions has nothing of them in its process, and a function's own `http` package
# cannot shadow the standard library's for the API server.
try:
    _HAS_EXTENSIONS = any(entry.is_file() for entry in os.scandir("/opt/extensions"))
except OSError:
    _HAS_EXTENSIONS = False
if _HAS_EXTENSIONS:
    from . import extensions
os.environ.pop("SNAPHARNESS_RUNTIME_VERSION", None)  # for the extensions' telemetry only (extensions.RUNTIME_VERSION)
EXTENSIONS = None  # this environment's extensions.Host, once started

EXIT_INIT_ERROR = 1
EXIT_BEFORE_SNAPSHOT_ERROR = 64
EXIT_AFTER_RESTORE_ERROR = 65

# Leading frames of this file (the agent's main loop) are left out of stack traces, as awslambdaric leaves out
# those of its bootstrap.py.
RUNTIME_FILES = frozenset([__file__])


Fault = ric.Fault if ric else None


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
        raise Fault("Runtime.ImportModuleError", "Unable to import module '{}': {}".format(modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault("Runtime.UserCodeSyntaxError", "Syntax error in module '{}': {}".format(modname, e), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", "Handler '{}' missing on module '{}'".format(fname, modname))


def max_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def hook_names(entries):
    return [getattr(f, "__qualname__", repr(f)) for f, _, _ in entries]


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def mark_end(request_id):
    """End-of-invocation marker: everything the invocation wrote, then one marker line on fd 1 and on fd 2 (the
    supervisor prints what came before it and strips the marker). A partial last line gets the marker appended."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    marker = protocol.end_mark(request_id)
    for fd in (1, 2):
        try:
            write_all(fd, marker)
        except OSError:
            pass


def invoke(channel, handler, message):
    """One invocation, as awslambdaric's run loop and handle_event_request do it."""
    invocation = protocol.invocation(message)
    request_id = invocation.request_id
    tenant_id = invocation.tenant_id
    if EXTENSIONS is not None:
        EXTENSIONS.begin_invoke(invocation)
    ric.begin_invocation(request_id, tenant_id)
    # awslambdaric: _X_AMZN_TRACE_ID is the invocation's Lambda-Runtime-Trace-Id, or absent when it has none.
    trace_id = invocation.trace_id
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    error = None
    try:
        context = ric.create_context(request_id, invocation.deadline_ms, invocation.invoked_function_arn,
                                     invocation.client_context, invocation.cognito_identity, tenant_id)
        # The body as the Runtime API hands it over: bytes of the event's JSON text.
        event = MARSHALLER.unmarshal(invocation.event.encode("utf-8", "surrogatepass"))
        response = handler(event, context)
        result = MARSHALLER.marshal(response)
    except ric.Fault as f:
        error = ric.make_error(f.message, f.error_type, f.trace, request_id)
    except Exception:
        error = ric.error_from_exception(sys.exc_info(), RUNTIME_FILES, request_id)

    if error is not None:
        ric.log_error(error)
        # What awslambdaric posts; text it cannot encode as UTF-8 kills the runtime there, and here.
        ric.to_json(error).encode("utf-8")
    elif not isinstance(result, bytes):
        # awslambdaric posts result.encode("utf-8"): a lone surrogate (possible only without ensure_ascii, i.e. in the
        # python3.12+ execution environments) raises outside its handler's try and the runtime exits with the
        # traceback (Lambda: Runtime.ExitError). The same happens here, on purpose.
        result.encode("utf-8")
    if channel.detached:
        return  # a child forked by the handler came back here: only the agent itself reports
    if error is not None:
        reply = protocol.error(request_id, error, max_memory_mb=max_memory_mb())
    else:
        reply = protocol.result(request_id, result, max_memory_mb=max_memory_mb())  # bytes go as payloadBase64
    failure = None
    if EXTENSIONS is not None:
        produced = len(result if isinstance(result, bytes) else result.encode("utf-8")) if error is None else 0
        failure = EXTENSIONS.end_invoke(request_id, error, produced, max_memory_mb())
        if failure is not None:
            reply = protocol.error(request_id, failure.error(), max_memory_mb=max_memory_mb())
    mark_end(request_id)
    channel.send(reply)
    if failure is not None:
        settle_output()
        os._exit(EXIT_INIT_ERROR)  # an extension failed: Lambda resets the environment


# Wall-clock start and end of Init, for telling timestamps computed at Init apart from constants.
INIT_WINDOW = [0.0, 0.0]


def inspect_facts(task_root, restored=True):
    """Facts for `snapharness check`, gathered by the inspector (loaded only when asked, by path: the agent's folder is
    no longer on sys.path); `restored`: see inspector.gather."""
    import importlib.util
    path = os.path.join(PACKAGE, "inspector.py")
    spec = importlib.util.spec_from_file_location("snapharness_agent.inspector", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return protocol.facts(module.gather(task_root, INIT_WINDOW, restored=restored))


def serve(channel, handler, task_root, until=None):
    """Answers `invoke` and `inspect` until the supervisor sends `until` (returned), `shutdown` or hangs up (None)."""
    while True:
        message = channel.receive()
        kind = protocol.message_type(message)
        if until is not None and kind == until:
            return message
        if kind == protocol.INVOKE:
            invoke(channel, handler, message)
        elif kind == protocol.INSPECT:
            channel.send(inspect_facts(task_root, restored=until is None))
        else:
            return None


def fail(channel, message, exit_code):
    """Logs the failure's error record, reports it (a *_error message) and exits."""
    ric.log_error(message["error"])
    settle_output()
    channel.send(message)
    sys.exit(exit_code)


MARSHALLER = None


class RestoreSignal:
    """The supervisor's SIGUSR1 after a restore. Armed only to park for the checkpoint, and disarmed once it came: the
    function never sees the signal blocked or handled (as under awslambdaric, which blocks nothing). The handler does
    nothing itself; Python's wakeup fd turns the signal into a byte the parked agent reads."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.previous_wakeup = signal.set_wakeup_fd(self.write_fd)
        signal.signal(signal.SIGUSR1, lambda *_: None)

    def wait(self):
        while signal.SIGUSR1 not in os.read(self.read_fd, 64):
            pass
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        signal.set_wakeup_fd(self.previous_wakeup)
        os.close(self.read_fd)
        os.close(self.write_fd)


def end_environment():
    """The supervisor shut the environment down: the extensions' Shutdown phase, then Lambda kills the environment,
    so no exit handlers run (atexit, thread joins)."""
    if EXTENSIONS is not None:
        EXTENSIONS.shutdown(terminate_runtime=terminate_self)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    settle_output()
    os._exit(0)


def terminate_self():
    """With extensions, Lambda's runtime gets SIGTERM at the Shutdown phase: a function that handles it (a graceful
    shutdown) has its handler run. This process is also the extensions' API server, so the handler is called here
    rather than signalled, and its end of the process (sys.exit) waits for the extensions' Shutdown phase."""
    handler = signal.getsignal(signal.SIGTERM)
    if callable(handler):
        try:
            handler(signal.SIGTERM, sys._getframe())
        except BaseException:
            pass


def settle_output():
    """With extensions, this process's output goes through the log relay's pipes: what is in them goes out before
    the process ends."""
    if EXTENSIONS is not None:
        EXTENSIONS.logs.settle()


def report_init_error(channel, error):
    channel.send(protocol.init_error(error))
    sys.exit(EXIT_INIT_ERROR)


def start_extensions(channel):
    """The API server on AWS_LAMBDA_RUNTIME_API (a thread of this process: the built-in runtime is the API server),
    then the external extensions, until they registered; an extension that fails first fails Init."""
    global EXTENSIONS
    extensions.serve_api()
    try:
        EXTENSIONS = extensions.start(os.environ, relay_own_output=True)
        if EXTENSIONS is not None:
            EXTENSIONS.await_registration()
    except extensions.Failure as f:
        extensions.fail_init(f, lambda error: report_init_error(channel, error))


def main():
    global MARSHALLER
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    # Lambda's order: the function's own folder first (a bundled snapshot_restore_py wins), then the layers' Python
    # folders under /opt, runtime libraries last.
    sys.path[0] = task_root
    version = "python%d.%d" % sys.version_info[:2]
    sys.path[1:1] = ["/opt/python/lib/%s/site-packages" % version, "/opt/python"]
    runtime_lib = os.environ.get("SNAPHARNESS_RUNTIME_LIB")
    if runtime_lib and runtime_lib not in sys.path:
        sys.path.append(runtime_lib)
    import site
    site.addsitedir(task_root)  # the folder's .pth files, as Lambda's launcher processes them
    os.chdir(task_root)

    channel = Channel()
    INIT_WINDOW[0] = time.time()
    channel.send(protocol.hello("init", os.getpid()))
    if ric is None:
        error = {"errorMessage": "Unable to import the runtime library: {}".format(RIC_ERROR),
                 "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}
        print("[ERROR] %s: %s" % (error["errorType"], error["errorMessage"]), flush=True)
        channel.send(protocol.init_error(
            error, hint="simplejson is missing from the runtime library folder {}: run `make deps`".format(runtime_lib)))
        sys.exit(EXIT_INIT_ERROR)

    # Lambda starts the external extensions before the runtime, and the runtime once they registered.
    if _HAS_EXTENSIONS:
        start_extensions(channel)

    # What awslambdaric does before Init: its marshaller (AWS_EXECUTION_ENV read now), flushed stdout/stderr, the
    # root logger's handler (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL), the preview-runtime warning.
    MARSHALLER = ric.Marshaller()
    ric.setup_output()
    ric.warn_if_preview_runtime()

    # Init: module code of the handler.
    try:
        handler = get_handler(os.environ["_HANDLER"])
    except Exception as e:
        if isinstance(e, Fault):
            error, hint = ric.make_error(e.message, e.error_type, e.trace), e.hint
        else:
            error, hint = ric.error_from_exception(sys.exc_info(), RUNTIME_FILES), None
        logging.warning(ric.UNHANDLED_EXCEPTION_WARNING)
        fail(channel, protocol.init_error(error, hint=hint), EXIT_INIT_ERROR)

    import snapshot_restore_py  # the managed runtime provides it, as Lambda's does

    INIT_WINDOW[1] = time.time()
    summary = None
    if EXTENSIONS is not None:
        # Init ends when every extension waits for its next event too.
        summary = EXTENSIONS.finish_init(lambda error: report_init_error(channel, error))
    channel.send(protocol.init_done(before_snapshot_hooks=hook_names(snapshot_restore_py.get_before_snapshot()),
                                    after_restore_hooks=hook_names(snapshot_restore_py.get_after_restore()),
                                    extensions=summary))
    # Before the snapshot the supervisor may also inspect the fresh process or invoke it on demand (no snapshot:
    # Lambda's cold path), which `check` and `bench` use as references.
    if serve(channel, handler, task_root, until=protocol.BEFORE_SNAPSHOT) is None:
        end_environment()

    # Before-snapshot hooks: reverse registration order.
    try:
        ric.run_before_snapshot()
    except BaseException:
        fail(channel, protocol.before_snapshot_error(ric.error_from_exception(sys.exc_info(), RUNTIME_FILES)),
             EXIT_BEFORE_SNAPSHOT_ERROR)

    if EXTENSIONS is not None:
        EXTENSIONS.end_init()  # the snapshot's Init: held in it, delivered by each copy (telemetry.py)

    # Park: close the channel (CRIU cannot dump a socket to a peer outside the tree) and wait for the restore signal.
    wake = RestoreSignal()
    channel.send(protocol.snapshot_ready())
    channel.close()
    wake.wait()
    if EXTENSIONS is not None:
        EXTENSIONS.telemetry.restore_start(time.time())

    # Restored (possibly one of many copies). Reconnect to whichever supervisor restored us.
    channel = Channel()
    channel.send(protocol.hello("restore", os.getpid()))
    command = channel.receive()
    if protocol.message_type(command) != protocol.AFTER_RESTORE:
        end_environment()
    # What Lambda changes in a restored environment before the hooks run (e.g. rotated container credentials).
    os.environ.update(protocol.restore_environment(command))
    try:
        ric.run_after_restore()
    except BaseException:
        if EXTENSIONS is not None:
            EXTENSIONS.restore_done("error", "Runtime.AfterRestoreError")
        fail(channel, protocol.after_restore_error(ric.error_from_exception(sys.exc_info(), RUNTIME_FILES)),
             EXIT_AFTER_RESTORE_ERROR)
    if EXTENSIONS is not None:
        EXTENSIONS.restore_done()
    channel.send(protocol.restored())
    serve(channel, handler, task_root)
    end_environment()
