"""Lambda's Extensions API inside the environment, for the built-in runtime and the Runtime API server alike.

External extensions are the executables in /opt/extensions (from layers, or an image). They start at Init before the
runtime, with the function's environment, and register on AWS_LAMBDA_RUNTIME_API; Init ends when the runtime and
every registered extension have called event/next. Under SnapStart they are part of the checkpointed tree: each one
is parked in its event/next request (a TCP connection inside the tree, kept by CRIU's tcp-established) and each
restored copy hands its own INVOKE events to its copy of them. At the environment's end they get SHUTDOWN and
Lambda's 2,000 ms, then the kill.

`Host` is the state; `Routes` is what an HTTP request handler of the environment's API server mixes in. The
Telemetry API (telemetry.py) is served here too, as Lambda serves it on the same address.
"""
import http.server
import json
import os
import signal
import threading
import time
import uuid

from . import telemetry

FOLDER = "/opt/extensions"
PREFIX = "/2020-01-01/extension"
NAME_HEADER = "Lambda-Extension-Name"
ID_HEADER = "Lambda-Extension-Identifier"
EVENT_ID_HEADER = "Lambda-Extension-Event-Identifier"
FEATURE_HEADER = "Lambda-Extension-Accept-Feature"
ERROR_TYPE_HEADER = "Lambda-Extension-Function-Error-Type"
EVENTS = ("INVOKE", "SHUTDOWN")
# Lambda's Shutdown phase lasts up to 2,000 ms when external extensions are registered (500 ms with internal only).
MAX_EXTENSIONS = 10
SHUTDOWN_SECONDS = 2.0
INTERNAL_SHUTDOWN_SECONDS = 0.5
ACCOUNT_ID = "000000000000"  # the account of the ARNs snapharness hands out
ADDRESS = ("127.0.0.1", 9001)  # AWS_LAMBDA_RUNTIME_API: the Runtime, Extensions and Telemetry APIs share it
MAX_PAYLOAD = 6 * 1024 * 1024  # Lambda's 6 MiB for request bodies


def discover(folder=FOLDER):
    """The external extensions: (name, path) of every regular file in `folder`, by name, as Lambda lists them."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            found.append((name, path))
    return found


class Extension:
    """One registered extension. States: Registered (until its first event/next), Ready (waiting in event/next),
    Running (handed an event, not back in event/next yet), Exited."""

    def __init__(self, name, events, external):
        self.name = name
        self.id = str(uuid.uuid4())
        self.events = events
        self.external = external
        self.state = "Registered"
        self.pending = []  # events not handed out yet
        self.error_type = None  # what it reported through init/error or exit/error
        self.registered_at = time.time()
        self.ready_at = None  # its first event/next (the end of its Init)


class Failure(Exception):
    """An extension ended the phase: Lambda's error type and message."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type
        self.message = message

    def error(self):
        return {"errorMessage": self.message, "errorType": self.error_type, "stackTrace": []}


class Host:
    """The extensions of one environment. HTTP threads call the API side; the runtime's thread calls the phase side
    (launch, await_registration, await_ready, invoke, await_idle, shutdown)."""

    def __init__(self, environ, telemetry_hold, runtime_version=""):
        self.cond = threading.Condition()
        self.environ = environ
        self.phase = "init"  # init (registration open) -> running -> shutdown
        self.launched = {}  # external name -> pid
        self.exits = {}  # external name -> exit status, once its process ended
        self.by_id = {}
        self.by_name = {}
        self.failure = None  # a Failure once an extension failed the current phase
        self.init_ended = False
        self.abandoned = False
        self.registration_closed = False  # once the runtime asked for its first event (internal extensions too late)
        self.telemetry = telemetry.Telemetry(hold=telemetry_hold, environ=environ, runtime_version=runtime_version)
        self.logs = telemetry.LogRelay(self.telemetry)
        self.stdout, self.stderr = 1, 2  # where relayed output goes (see `relay_own_output`)

    def relay_own_output(self):
        """The built-in runtime is the function's process: its own fd 1 and 2 go through the log relay from now on
        (the Telemetry API's `function` records), and the extensions' output to where they went before."""
        self.stdout, self.stderr = os.dup(1), os.dup(2)
        for fd, out in ((1, self.stdout), (2, self.stderr)):
            write_end = self.logs.pipe(out, "function")
            os.dup2(write_end, fd)
            os.close(write_end)

    # --- the runtime's side --------------------------------------------------------------------------------------

    def launch(self, found, env, reaper=True):
        """Starts each external extension with `env` and stdin on /dev/null, its output on the function's log
        through the log relay (the Telemetry API's `extension` records). `reaper`: wait for each on a thread of this
        process (the Runtime API server, pid 1, reaps them itself and calls `exited`)."""
        for name, path in found:
            out, err = self.logs.pipe(self.stdout, "extension"), self.logs.pipe(self.stderr, "extension")
            actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                       (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)]
            with self.cond:  # a reaper that sees its exit at once waits until the pid is known
                try:
                    pid = os.posix_spawn(path, [path], env, file_actions=actions, setsigmask=(),
                                         setsigdef=(signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE))
                except OSError as e:
                    self.failure = Failure("Extension.LaunchError",
                                           "Couldn't start the extension {}: {}".format(path, e.strerror or e))
                    raise self.failure
                finally:
                    os.close(out)
                    os.close(err)
                self.launched[name] = pid
            if reaper:
                threading.Thread(target=self._reap, args=(name, pid), daemon=True).start()

    def _reap(self, name, pid):
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                return
        self.exited(pid, os.waitstatus_to_exitcode(status))

    def exited(self, pid, code):
        """An extension's process ended (`code`: its exit code, or minus the signal that killed it). During Init and
        invocations that fails the phase, as on Lambda (Extension.Crash); at Shutdown it is what is awaited."""
        with self.cond:
            name = next((n for n, p in self.launched.items() if p == pid), None)
            if name is None:
                return False
            self.exits[name] = code
            extension = self.by_name.get(name)
            if extension is not None:
                extension.state = "Exited"
            if self.phase != "shutdown" and self.failure is None:
                # Lambda: an extension whose process ends is a crash, whatever its exit code.
                how = "exited with code {}".format(code) if code >= 0 else "was killed by signal {}".format(-code)
                self.failure = Failure("Extension.Crash", "the extension {} {}".format(name, how))
            self.cond.notify_all()
            return True

    def owns(self, pid):
        with self.cond:
            return pid in self.launched.values()

    def abandon(self):
        """The runtime is gone: nothing waits for the extensions any more (the runtime's exit ends the environment)."""
        with self.cond:
            self.abandoned = True
            self.cond.notify_all()

    def check(self):
        """Raises the Failure of the current phase, if an extension failed it."""
        with self.cond:
            if self.failure is not None:
                raise self.failure

    def await_registration(self):
        """Until every external extension has registered (Lambda starts the runtime after that)."""
        said = time.monotonic() + 1
        with self.cond:
            while True:
                if self.failure is not None:
                    raise self.failure
                if all(name in self.by_name for name in self.launched):
                    return
                if said is not None and time.monotonic() >= said:
                    late = ", ".join(n for n in self.launched if n not in self.by_name)
                    self._say("snapharness: Init is waiting for the extension(s) {} to register (an external "
                              "extension registers with its file's name as Lambda-Extension-Name)".format(late))
                    said = None
                self.cond.wait(None if said is None else max(0.01, said - time.monotonic()))

    def await_ready(self):
        """Until every registered extension waits in event/next: the end of Init. The runtime is done with its Init
        when this is called, so registration closes, and the Telemetry API's subscriptions with it."""
        said = time.monotonic() + 1
        with self.cond:
            self.registration_closed = True
            while True:
                if self.failure is not None:
                    raise self.failure
                if self.abandoned or all(e.state == "Ready" for e in self.by_id.values()):
                    self.phase = "running"
                    self.telemetry.close_subscriptions()
                    return
                if said is not None and time.monotonic() >= said:
                    # Init's limit will end it; the function's log says who it is waiting for.
                    late = ", ".join(e.name for e in self.by_id.values() if e.state != "Ready")
                    self._say("snapharness: Init is waiting for the extension(s) {} to call event/next (the "
                              "runtime is done)".format(late))
                    said = None
                self.cond.wait(None if said is None else max(0.01, said - time.monotonic()))

    def _say(self, line):
        try:
            os.write(self.stderr, (line + "\n").encode())
        except OSError:
            pass

    def end_init(self, status="success", error_type=None):
        """Init's telemetry, once: initRuntimeDone, each extension, initReport (Lambda's order). Under SnapStart this
        is at the snapshot, after the before-snapshot hooks; an on-demand Init ends before its first invocation."""
        with self.cond:
            if self.init_ended:
                return
            self.init_ended = True
            extensions = list(self.by_id.values())
        self.telemetry.init_runtime_done(status, error_type)
        for e in extensions:
            self.telemetry.extension(e.name, "Ready" if e.state in ("Ready", "Running") else e.state, e.events,
                                     e.error_type)
        self.telemetry.init_report(status, error_type)

    def finish_init(self, report):
        """Init's end for the extensions: waits until they are ready and returns their summary for init_done; when
        one failed Init instead, `fail_init` ends it (and `report`, the process)."""
        try:
            self.await_ready()
        except Failure as f:
            fail_init(f, report)
        return self.summary()

    def summary(self):
        """What the supervisor reports of each extension (init_done's `extensions`)."""
        subscribed = self.telemetry.subscribed()
        with self.cond:
            summary = []
            for e in self.by_id.values():
                entry = {"name": e.name, "state": "Ready" if e.state in ("Ready", "Running") else e.state,
                         "events": list(e.events), "external": e.external,
                         "registeredMs": round((e.registered_at - self.telemetry.init_started) * 1000, 3)}
                if e.ready_at is not None:
                    entry["readyMs"] = round((e.ready_at - self.telemetry.init_started) * 1000, 3)
                if e.name in subscribed:
                    entry["telemetry"] = subscribed[e.name]
                summary.append(entry)
            return summary

    def begin_invoke(self, invocation):
        """platform.start, and each extension subscribed to INVOKE gets the invocation's event (`invocation`: a
        protocol.Invocation). Ends an on-demand Init first (its telemetry)."""
        self.end_init()
        self.telemetry.invoke_start(invocation.request_id, invocation.trace_id)
        event = {"eventType": "INVOKE", "deadlineMs": invocation.deadline_ms, "requestId": invocation.request_id,
                 "invokedFunctionArn": invocation.invoked_function_arn or ""}
        if invocation.trace_id:
            event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": invocation.trace_id}
        with self.cond:
            for extension in self.by_id.values():
                if "INVOKE" in extension.events and extension.state != "Exited":
                    extension.pending.append(event)
            self.cond.notify_all()

    def end_invoke(self, request_id, error, produced_bytes, max_memory_mb):
        """After the runtime's answer (`error`: its error object, or None): platform.runtimeDone, then the wait for
        the extensions (Lambda's Invoke phase ends when they are all back in event/next), platform.report, and the
        telemetry goes out. Returns the Failure when an extension ended the invocation instead."""
        status = "success" if error is None else "error"
        error_type = None if error is None else error.get("errorType")
        self.telemetry.runtime_done(request_id, status, produced_bytes, error_type)
        failure = None
        try:
            self.await_idle()
        except Failure as f:
            failure, status, error_type = f, "error", f.error_type
        self.telemetry.report(request_id, status, max_memory_mb, error_type=error_type)
        self.telemetry.send_now()
        return failure

    def restore_done(self, status="success", error_type=None):
        """The copy's after-restore phase ended: restoreRuntimeDone and restoreReport, and delivery starts (the
        snapshot's held Init events first)."""
        self.telemetry.restore_done(status, error_type)
        self.telemetry.release()

    def await_idle(self):
        """Until every extension is back in event/next after the invocation (the end of Lambda's Invoke phase)."""
        with self.cond:
            while True:
                if self.failure is not None:
                    raise self.failure
                if self.abandoned or all(e.state == "Ready" and not e.pending
                                         for e in self.by_id.values() if "INVOKE" in e.events):
                    return
                self.cond.wait()

    def shutdown(self, reason="spindown", terminate_runtime=None):
        """Lambda's Shutdown phase: SIGTERM to the runtime (`terminate_runtime` sends it) and SHUTDOWN to each
        extension subscribed to it, then up to 2,000 ms (500 ms with internal extensions only) for each to call
        event/next again or exit; what is left is killed."""
        if terminate_runtime is not None:
            terminate_runtime()
        with self.cond:
            external = bool(self.launched)
        # What the extensions' subscriptions hold goes out first, within the phase's time.
        self.telemetry.flush(0.5 if external else 0.1)
        with self.cond:
            self.phase = "shutdown"
            limit = SHUTDOWN_SECONDS if external else INTERNAL_SHUTDOWN_SECONDS
            deadline = time.monotonic() + limit
            event = {"eventType": "SHUTDOWN", "shutdownReason": reason,
                     "deadlineMs": int(time.time() * 1000 + limit * 1000)}
            subscribed = [e for e in self.by_id.values() if "SHUTDOWN" in e.events and e.state != "Exited"]
            for extension in subscribed:
                extension.pending.append(event)
            self.cond.notify_all()
            while any(e.state != "Exited" and (e.pending or e.state != "Ready") for e in subscribed):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            pids = [pid for name, pid in self.launched.items() if name not in self.exits]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    # --- the API side (HTTP threads) -----------------------------------------------------------------------------

    def register(self, name, body, features):
        """POST register: (status, headers, body)."""
        if not name:
            return refusal(403, "Extension.InvalidExtensionName", "Empty extension name")
        try:
            request = json.loads(body or b"{}")
            events = request.get("events", []) if isinstance(request, dict) else None
            if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                raise ValueError
        except ValueError:
            return refusal(403, "InvalidRequestFormat", "Invalid request body: {\"events\": [...]} expected")
        with self.cond:
            external = name in self.launched
            if name in self.by_name:
                if external:
                    return refusal(403, "Extension.InvalidExtensionState",
                                   "State transition from Registered to Registered failed for extension {}. Error: "
                                   "State transition is not allowed".format(name))
                return refusal(403, "Extension.InvalidExtensionState", "Extension with this name already registered")
            if self.phase != "init" or (not external and self.registration_closed):
                return refusal(403, "Extension.RegistrationClosed", "Extension registration closed already")
            if len(self.by_name) >= MAX_EXTENSIONS:
                return refusal(403, "Extension.TooManyExtensions", "Extension limit ({}) reached".format(MAX_EXTENSIONS))
            for event in events:
                if event not in EVENTS:
                    return refusal(403, "Extension.InvalidEventType", "{}: ErrorInvalidEventType".format(event))
                if event == "SHUTDOWN" and not external:
                    return refusal(403, "Extension.InvalidEventType",
                                   "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension")
            extension = Extension(name, events, external)
            self.by_id[extension.id] = extension
            self.by_name[name] = extension
            self.cond.notify_all()
        answer = {"functionName": self.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
                  "functionVersion": self.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                  "handler": self.environ.get("_HANDLER", "")}
        if "accountId" in [f.strip() for f in (features or "").split(",")]:
            answer["accountId"] = ACCOUNT_ID
        return 200, {ID_HEADER: extension.id}, json.dumps(answer).encode()

    def find(self, identifier):
        """(extension, None) or (None, the refusal) for a request's identifier header."""
        if not identifier:
            return None, refusal(403, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header")
        try:
            uuid.UUID(identifier)
        except ValueError:
            return None, refusal(403, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
        with self.cond:
            extension = self.by_id.get(identifier)
        if extension is None:
            return None, refusal(403, "Extension.UnknownExtensionIdentifier", "Unknown extension " + identifier)
        return extension, None

    def next_event(self, identifier):
        """GET event/next: held until the extension's next event."""
        extension, refused = self.find(identifier)
        if refused:
            return refused
        with self.cond:
            if extension.state == "Registered":
                extension.ready_at = time.time()
            extension.state = "Ready"
            self.cond.notify_all()
            while not extension.pending:
                self.cond.wait()
            event = extension.pending.pop(0)
            extension.state = "Running"
            self.cond.notify_all()
        return 200, {EVENT_ID_HEADER: str(uuid.uuid4())}, json.dumps(event).encode()

    def report_error(self, identifier, error_type, kind):
        """POST init/error or exit/error: the extension's error ends the phase (Init) or the environment."""
        extension, refused = self.find(identifier)
        if refused:
            return refused
        if not error_type:
            return refusal(403, "Extension.MissingHeader", ERROR_TYPE_HEADER + " not found")
        with self.cond:
            if kind == "init" and self.phase != "init":
                return refusal(403, "Extension.InvalidExtensionState",
                               "State transition from {} to InitError failed for extension {}. Error: State "
                               "transition is not allowed".format(extension.state, extension.name))
            extension.state = "InitError" if kind == "init" else "ExitError"
            extension.error_type = error_type
            if self.failure is None:
                # Lambda records the first fatal error as Extension.InitError / Extension.ExitError; the extension's
                # own type is in the message and in platform.extension.
                self.failure = Failure("Extension.InitError" if kind == "init" else "Extension.ExitError",
                                       "the extension {} reported {} through {}/error".format(
                                           extension.name, error_type, kind))
            self.cond.notify_all()
        return 202, {}, b'{"status":"OK"}'


def refusal(status, error_type, message):
    return status, {}, json.dumps({"errorMessage": message, "errorType": error_type}).encode()


HOST = None  # this environment's Host, once `start` made one
# INIT_START's Runtime Version, for the Telemetry API's events: the supervisor's SNAPHARNESS_RUNTIME_VERSION, taken out
# of the environment when this module loads, so that the function's process never sees it.
RUNTIME_VERSION = os.environ.pop("SNAPHARNESS_RUNTIME_VERSION", "")


def fail_init(failure, report):
    """An extension failed Init: Init's telemetry says so, what was written so far goes out, then `report(error)`
    tells the supervisor and ends the process."""
    if HOST is not None:
        HOST.end_init("error", failure.error_type)
        HOST.logs.settle()
    report(failure.error())


def start(environ, reaper=True, relay_own_output=False):
    """Launches the external extensions, if the function has any (then `await_registration`). Returns the Host, or
    None when /opt/extensions holds nothing. Raises Failure when one could not start. `reaper`: see Host.launch;
    `relay_own_output`: see Host.relay_own_output."""
    global HOST
    found = discover()
    if not found:
        return None
    env = {k: v for k, v in environ.items() if not k.startswith("SNAPHARNESS_")}
    HOST = Host(env, telemetry_hold=environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start",
                runtime_version=RUNTIME_VERSION)
    HOST.telemetry.init_start()
    if relay_own_output:
        HOST.relay_own_output()
    HOST.launch(found, env, reaper=reaper)
    return HOST


class Routes:
    """The Extensions and Telemetry API routes of a BaseHTTPRequestHandler that has reply(status, headers, body)
    and body(); `route` answers and returns True for their paths, False for any other."""

    def route(self, method, path):
        if not (path.startswith(PREFIX + "/") or path == telemetry.PATH):
            return False
        host = HOST
        if host is None:
            self.reply(*refusal(403, "Extension.Unavailable",
                                "no extensions here: the function has no executable in " + FOLDER))
            return True
        if path == telemetry.PATH:
            if method != "PUT":
                self.reply(*refusal(405, "InvalidRequest", "Method not allowed"))
                return True
            extension, refused = host.find(self.headers.get(ID_HEADER))
            self.reply(*(refused or host.telemetry.subscribe(extension.name, self.body())))
            return True
        action = path[len(PREFIX) + 1:]
        if method == "POST" and action == "register":
            self.reply(*host.register(self.headers.get(NAME_HEADER), self.body(), self.headers.get(FEATURE_HEADER)))
        elif method == "GET" and action == "event/next":
            self.reply(*host.next_event(self.headers.get(ID_HEADER)))
        elif method == "POST" and action in ("init/error", "exit/error"):
            self.body()
            self.reply(*host.report_error(self.headers.get(ID_HEADER), self.headers.get(ERROR_TYPE_HEADER),
                                          action.split("/")[0]))
        else:
            self.reply(*refusal(404, "InvalidRequest", "Unknown Extensions API path {}".format(path)))
        return True


class Handler(http.server.BaseHTTPRequestHandler, Routes):
    """The environment's API server: the Extensions and Telemetry APIs (the Runtime API server adds its own routes)."""
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl in awslambdaric expects
    server_version = "snapharness"
    sys_version = ""

    def log_message(self, *args):
        pass  # the runtime's and the extensions' output is the function's; the API server's is not

    def reply(self, status, headers=None, body=b""):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body and "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def body(self):
        """The request body, or None when it is over Lambda's limit (read and dropped: the connection stays usable)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    break
                length -= len(chunk)
            return None
        data = b""
        while len(data) < length:
            chunk = self.rfile.read(length - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def path_only(self):
        return self.path.split("?", 1)[0]

    def unknown(self, path):
        self.reply(*refusal(404, "InvalidRequest", "Unknown API path {}".format(path)))

    def do_GET(self):
        if not self.route("GET", self.path_only()):
            self.unknown(self.path_only())

    def do_POST(self):
        if not self.route("POST", self.path_only()):
            self.unknown(self.path_only())

    def do_PUT(self):
        if not self.route("PUT", self.path_only()):
            self.unknown(self.path_only())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_api(handler=Handler):
    """The API server on AWS_LAMBDA_RUNTIME_API's address, on a thread of this process."""
    server = Server(ADDRESS, handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 3600}, daemon=True,
                     name="snapharness-api").start()
    return server
