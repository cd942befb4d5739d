"""snapharness Runtime API server: Lambda's Runtime API inside the sandbox, for runtimes that speak it (started as
snapharness_api.py, which blocks SIGUSR1 before it imports this).

It is pid 1 of the environment and part of the checkpointed tree, as Lambda's API server is part of its microVM. It
listens on 127.0.0.1:9001 in the environment's own network namespace, starts the runtime (AWS's awslambdaric as
`python -m awslambdaric module.function`, a custom runtime's `bootstrap`, or a container image's ENTRYPOINT + CMD)
as its child, and relays between the
runtime's HTTP calls and the supervisor's control channel (docs/control-protocol.md): to the supervisor it looks
like the built-in agent.

SnapStart: the runtime's `GET /runtime/restore/next` (or, for a runtime that never asks for it, its first
`GET /runtime/invocation/next`) means "Init is done". The request stays open while the tree is checkpointed (CRIU's
tcp-established keeps both ends, which are inside the tree) and is answered in each restored copy once its supervisor
says the copy may run its after-restore hooks. The state machine answers calls out of order with 403, as Lambda does.
"""
import os
import signal
import sys

import json
import queue
import socket
import threading
import time

from . import FOLDER, extensions, protocol
from .channel import Channel

ADDRESS = extensions.ADDRESS
PREFIX = "/2018-06-01/runtime"
MAX_PAYLOAD = extensions.MAX_PAYLOAD  # Lambda's 6 MiB for responses and errors
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
BEFORE_SNAPSHOT_ERROR = "Runtime.BeforeSnapshotError"


class State:
    """What the runtime may call now. Calls arrive on the HTTP server's threads, the supervisor's commands on the
    main thread; `events` carries what the runtime did to the main thread."""

    def __init__(self):
        self.lock = threading.Condition()
        self.phase = "init"        # init -> parked -> restoring -> idle <-> invoking; "gone" once the runtime failed
        self.waiting = None        # "restore" or "next": the request held open (restore/next, or a /next)
        self.release = None        # what the held request is answered with: (status, headers, body)
        self.request_id = None     # the invocation in flight
        self.seen_ids = set()
        self.exit_code = None      # the runtime's, once it ended
        self.events = queue.Queue()

    def hold(self, kind):
        """Called on an HTTP thread: holds the request until the main thread gives it an answer."""
        with self.lock:
            self.waiting, self.release = kind, None
            self.lock.notify_all()
        self.events.put(("waiting", kind))
        with self.lock:
            while self.release is None:
                self.lock.wait()
            answer, self.release, self.waiting = self.release, None, None
            return answer

    def answer(self, status, headers=None, body=b""):
        """Main thread: answers the held request (waits until one is held; ends with the runtime if it exits)."""
        with self.lock:
            while self.waiting is None:
                if self.exit_code is not None:
                    exit_as(self.exit_code)
                self.lock.wait()
            self.release = (status, headers or {}, body)
            self.lock.notify_all()


STATE = State()


# Lambda's container-credentials endpoint is served by its Runtime API server too: the runtime's environment names this
# address (frozen into the snapshot), and the server forwards each request to the supervisor that runs the environment
# now (its endpoint and this environment's current token arrive with `after_restore`), so restored copies get rotated
# credentials without the runtime's environment changing.
CREDENTIALS_PATH = "/2021-04-23/credentials"
FUNCTION_TOKEN = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
CREDENTIALS = {"uri": os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "token": FUNCTION_TOKEN}


def forward_credentials(authorization):
    """(status, body) of the supervisor's endpoint for a function's request carrying `authorization`."""
    if not CREDENTIALS["uri"] or authorization != FUNCTION_TOKEN:
        return 403, error_body("AccessDenied", "invalid authorization token")
    import urllib.error
    import urllib.request
    request = urllib.request.Request(CREDENTIALS["uri"], headers={"Authorization": CREDENTIALS["token"]})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 502, error_body("CredentialsUnavailable", str(e))


def error_body(error_type, message):
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class RuntimeAPI(extensions.Handler):
    """The Runtime API's routes; the Extensions and Telemetry APIs' come from extensions.Handler (`route`)."""

    def refuse(self, status, error_type, message):
        self.reply(status, body=error_body(error_type, message))

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if self.route("GET", path):
            return
        if path == CREDENTIALS_PATH:
            status, body = forward_credentials(self.headers.get("Authorization"))
            self.reply(status, body=body)
        elif path == PREFIX + "/restore/next":
            with STATE.lock:
                allowed = STATE.phase == "init" and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"
                if allowed:
                    STATE.phase = "parked"
            if not allowed:
                return self.refuse(403, "InvalidStateTransition",
                                   "State transition from {} to RestoreNext failed".format(STATE.phase))
            self.reply(*STATE.hold("restore"))
        elif path == PREFIX + "/invocation/next":
            with STATE.lock:
                phase = STATE.phase
                if phase == "init":
                    STATE.phase = "parked"  # a runtime that never asks for restore/next is snapshotted here
                elif phase == "restoring" or phase == "idle":
                    STATE.phase = "idle"
                elif phase == "invoking":
                    pass  # Lambda: a /next while an invocation is in flight means the runtime gave up on it
                else:
                    return self.refuse(403, "InvalidStateTransition",
                                       "State transition from {} to InvocationNext failed".format(phase))
            self.reply(*STATE.hold("next"))
        else:
            self.refuse(404, "InvalidRequest", "Unknown Runtime API path {}".format(path))

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if self.route("POST", path):
            return
        parts = path[len(PREFIX):].strip("/").split("/") if path.startswith(PREFIX + "/") else []
        if parts == ["init", "error"]:
            self.phase_error(("init", "parked"), "InitError", "init_error")
        elif parts == ["restore", "error"]:
            self.phase_error(("restoring",), "RestoreError", "restore_error")
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            request_id, kind = parts[1], parts[2]
            with STATE.lock:
                phase, current = STATE.phase, STATE.request_id
                known = request_id in STATE.seen_ids
            if phase != "invoking" or request_id != current:
                if not known:
                    return self.refuse(400, "InvalidRequestID", "Invalid request ID: {}".format(request_id))
                return self.refuse(403, "InvalidStateTransition",
                                   "State transition from {} to Invocation{} failed".format(
                                       phase, "Response" if kind == "response" else "Error"))
            data = self.body()
            if data is None:
                self.refuse(413, "RequestEntityTooLarge",
                            "Payload size ({} bytes) exceeded maximum allowed payload size ({} bytes).".format(
                                self.headers.get("Content-Length"), MAX_PAYLOAD))
                STATE.events.put(("error", request_id, {
                    "errorMessage": "Response payload size exceeded maximum allowed payload size ({} bytes).".format(
                        MAX_PAYLOAD),
                    "errorType": "Function.ResponseSizeTooLarge"}))
                return
            with STATE.lock:
                STATE.phase, STATE.request_id = "idle", None
            self.reply(202, body=b'{"status":"OK"}')
            if kind == "response":
                STATE.events.put(("result", request_id, data, self.headers.get("Content-Type") or ""))
            else:
                STATE.events.put(("error", request_id, self.error_object(data)))
        else:
            self.refuse(404, "InvalidRequest", "Unknown Runtime API path {}".format(path))

    def phase_error(self, phases, transition, event):
        """init/error and restore/error: 202 in their phase (which ends the environment), 403 elsewhere."""
        data = self.body()
        with STATE.lock:
            phase = STATE.phase
            if phase in phases:
                STATE.phase = "gone"
        if phase not in phases:
            return self.refuse(403, "InvalidStateTransition",
                               "State transition from {} to {} failed".format(phase, transition))
        self.reply(202, body=b'{"status":"OK"}')
        STATE.events.put((event, self.error_object(data), self.headers.get(ERROR_TYPE_HEADER)))

    def error_object(self, data):
        """Lambda's error object from an error call: the body when it is one, the Error-Type header otherwise."""
        header_type = self.headers.get(ERROR_TYPE_HEADER)
        try:
            error = json.loads(data or b"{}")
            if not isinstance(error, dict):
                raise ValueError
        except ValueError:
            error = {"errorMessage": (data or b"").decode("utf-8", "replace")}
        error.setdefault("errorType", header_type or "Runtime.Unknown")
        error.setdefault("errorMessage", "")
        return error


# `snapharness check` of an awslambdaric function: the inspector (inspector/sitecustomize.py) is loaded into the
# runtime's interpreter and answers here; otherwise nothing of snapharness is in the runtime's process.
INSPECTING = os.environ.get("SNAPHARNESS_INSPECT") == "1"
INSPECTOR_ADDRESS = "\0snapharness-inspect"
INIT_END = [None]  # when the runtime said Init was done (restore/next): the end of the window check judges clocks by


def ask_inspector(request):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(60)
        conn.connect(INSPECTOR_ADDRESS)
        conn.sendall(json.dumps(request).encode() + b"\n")
        reply = json.loads(conn.makefile("rb").readline() or b"{}")
    if "inspectorError" in reply:
        raise RuntimeError(reply["inspectorError"])
    return reply


def send_facts(channel, restored=True):
    """`inspect`: the inspector's facts, as the built-in agent reports them (see inspector.gather for what
    `restored` changes)."""
    facts = ask_inspector({"op": "facts", "initEnd": INIT_END[0], "restored": restored}) if INSPECTING else {}
    channel.send(protocol.facts(facts))


def start_runtime():
    """The runtime as Lambda starts it, as a child (not pid 1), with no signal blocked and stdin on /dev/null."""
    kind = os.environ.get("SNAPHARNESS_RUNTIME_CLIENT", "awslambdaric")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAPHARNESS_")}
    if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://%s:%d%s" % (ADDRESS[0], ADDRESS[1], CREDENTIALS_PATH)
    if INSPECTING and kind in ("awslambdaric", "image"):
        inspector = os.path.join(FOLDER, "inspector")
        env["PYTHONPATH"] = inspector + ":" + env.get("PYTHONPATH", "")
    if kind == "image":
        # ENTRYPOINT + CMD, found on the image's PATH as a container runtime finds it.
        argv = json.loads(os.environ["SNAPHARNESS_IMAGE_COMMAND"])
        if not argv:
            raise OSError("the image has no ENTRYPOINT or CMD")
        return spawn(os.posix_spawnp, argv, env)
    if kind == "bootstrap":
        argv = [os.path.join(os.environ["LAMBDA_TASK_ROOT"], "bootstrap")]
    else:
        launcher = os.path.join(FOLDER, "snapharness_launch.py")
        argv = [sys.executable, launcher, os.environ["_HANDLER"]]
        if env.get("AWS_LAMBDA_EXEC_WRAPPER"):
            # Lambda's Python bootstrap starts the runtime through the wrapper script (custom runtimes do not).
            argv = ["/bin/sh", os.path.join(FOLDER, "snapharness_exec_wrapper.sh")] + argv
    return spawn(os.posix_spawn, argv, env)


def spawn(how, argv, env):
    """The runtime's process: stdin on /dev/null, no signal blocked; with extensions its output goes through their
    log relay (the Telemetry API's `function` records)."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    relayed = []
    if extensions.HOST is not None:
        relayed = [extensions.HOST.logs.pipe(1, "function"), extensions.HOST.logs.pipe(2, "function")]
        actions += [(os.POSIX_SPAWN_DUP2, relayed[0], 1), (os.POSIX_SPAWN_DUP2, relayed[1], 2)]
    try:
        return how(argv[0], argv, env, file_actions=actions, setsigmask=(),
                   setsigdef=(signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE))
    finally:
        for fd in relayed:
            os.close(fd)


RUNTIME_PID = [None]  # set under STATE.lock as the runtime is spawned (the reaper may see its exit at once)


def reap():
    """pid 1 reaps every orphan; the runtime's own exit goes to the main thread, an extension's to the extensions."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.01)  # no child yet (between an extension's end and the runtime's start)
            continue
        except InterruptedError:
            continue
        code = os.waitstatus_to_exitcode(status)
        with STATE.lock:
            is_runtime = pid == RUNTIME_PID[0]
            if is_runtime:
                STATE.exit_code = code
                STATE.lock.notify_all()
        if is_runtime:
            STATE.events.put(("exited", code))
            if extensions.HOST is not None:
                extensions.HOST.abandon()
        elif extensions.HOST is not None:
            extensions.HOST.exited(pid, code)


def exit_as(code):
    """Ends the environment with the runtime's exit status (a signal as 128 + its number, as a shell reports it)."""
    settle_output()
    os._exit(code if code >= 0 else 128 - code)


def settle_output():
    """What the runtime and the extensions wrote goes through their log relay before this process ends."""
    if extensions.HOST is not None:
        extensions.HOST.logs.settle()


def max_memory_mb(runtime_pid):
    """The runtime's high-water mark (what the built-in runtime reports of itself, so both clients compare)."""
    try:
        with open("/proc/%d/status" % runtime_pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def mark_end(request_id):
    """The end-of-invocation marker (docs/control-protocol.md) on fd 1 and 2, after what the runtime wrote."""
    marker = protocol.end_mark(request_id)
    for fd in (1, 2):
        data = marker
        while data:
            data = data[os.write(fd, data):]


def next_event(*kinds):
    """The runtime's next event of one of `kinds`; an exit ends this process with the runtime's code."""
    while True:
        event = STATE.events.get()
        if event[0] == "exited":
            exit_as(event[1])
        if event[0] in kinds:
            return event


def exit_with_runtime():
    next_event()  # only "exited" ends it


def invocation_headers(invocation):
    """The headers of the answer to GET invocation/next for `invocation` (a protocol.Invocation)."""
    headers = {"Lambda-Runtime-Aws-Request-Id": invocation.request_id,
               "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
               "Lambda-Runtime-Invoked-Function-Arn": invocation.invoked_function_arn or "",
               "Content-Type": "application/json"}
    for value, header in ((invocation.trace_id, "Lambda-Runtime-Trace-Id"),
                          (invocation.client_context, "Lambda-Runtime-Client-Context"),
                          (invocation.cognito_identity, "Lambda-Runtime-Cognito-Identity"),
                          (invocation.tenant_id, "Lambda-Runtime-Aws-Tenant-Id")):
        if value:
            headers[header] = value
    return headers


def response_payload(data, content_type):
    """What the runtime posted as its response: text when it is UTF-8 JSON, else the bytes (sent as payloadBase64)."""
    if content_type.startswith("application/json"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data


def invoke(channel, message, runtime_pid):
    invocation = protocol.invocation(message)
    request_id = invocation.request_id
    headers = invocation_headers(invocation)
    host = extensions.HOST
    if host is not None:
        host.begin_invoke(invocation)
    with STATE.lock:
        STATE.phase, STATE.request_id = "invoking", request_id
        STATE.seen_ids.add(request_id)
    STATE.answer(200, headers, invocation.event.encode("utf-8", "surrogatepass"))
    event = next_event("result", "error")
    error, produced = None, 0
    if event[0] == "result":
        _, _, data, content_type = event
        produced = len(data)
        reply = protocol.result(request_id, response_payload(data, content_type),
                                max_memory_mb=max_memory_mb(runtime_pid))
    else:
        error = event[2]
        error.setdefault("requestId", request_id)
        reply = protocol.error(request_id, error, max_memory_mb=max_memory_mb(runtime_pid))
    failure = None
    if host is not None:
        failure = host.end_invoke(request_id, error, produced, max_memory_mb(runtime_pid))
        if failure is not None:
            reply = protocol.error(request_id, failure.error(), max_memory_mb=max_memory_mb(runtime_pid))
    mark_end(request_id)
    channel.send(reply)
    if failure is not None:  # an extension failed: Lambda resets the environment
        os.kill(runtime_pid, signal.SIGKILL)
        settle_output()
        os._exit(1)


def serve(channel, runtime_pid):
    """invoke until shutdown or the supervisor hangs up; then the environment ends (Lambda kills it, no exit hooks)."""
    while True:
        message = channel.receive()
        kind = protocol.message_type(message)
        if kind == protocol.INVOKE:
            invoke(channel, message, runtime_pid)
        elif kind == protocol.INSPECT:
            send_facts(channel)
        else:
            if extensions.HOST is not None:
                # With extensions, Lambda's runtime gets SIGTERM at the Shutdown phase (a graceful shutdown).
                extensions.HOST.shutdown(terminate_runtime=lambda: os.kill(runtime_pid, signal.SIGTERM))
            os.kill(runtime_pid, signal.SIGKILL)
            settle_output()
            os._exit(0)


def main():
    os.chdir(os.environ.get("SNAPHARNESS_WORKDIR") or os.environ["LAMBDA_TASK_ROOT"])
    extensions.serve_api(RuntimeAPI)
    channel = Channel()
    channel.send(protocol.hello("init", os.getpid()))
    # Lambda starts the external extensions first, and the runtime once they registered.
    host = None
    try:
        host = extensions.start(os.environ, reaper=False)
        if host is not None:
            threading.Thread(target=reap, daemon=True).start()
            host.await_registration()
    except extensions.Failure as f:
        def report(error):
            channel.send(protocol.init_error(error))
            os._exit(1)
        extensions.fail_init(f, report)
    try:
        with STATE.lock:
            runtime_pid = RUNTIME_PID[0] = start_runtime()
    except OSError as e:
        kind = os.environ.get("SNAPHARNESS_RUNTIME_CLIENT", "awslambdaric")
        what = {"bootstrap": "bootstrap", "image": "the image's ENTRYPOINT + CMD " + os.environ.get(
            "SNAPHARNESS_IMAGE_COMMAND", "[]")}.get(kind, "awslambdaric")
        error = {"errorMessage": "Couldn't start the runtime ({}): {}".format(what, e),
                 "errorType": "Runtime.InvalidEntrypoint" if kind in ("bootstrap", "image") else "Runtime.ExitError",
                 "stackTrace": []}
        hints = {"bootstrap": "a custom runtime needs an executable file named bootstrap in the function's folder "
                              "(chmod +x bootstrap)",
                 "image": "the image's ENTRYPOINT (or the function's ImageConfig EntryPoint) must name an executable "
                          "in the image"}
        channel.send(protocol.init_error(error, hint=hints.get(kind)))
        os._exit(1)
    if host is None:
        threading.Thread(target=reap, daemon=True).start()

    # Init: the runtime imports the function and runs its before-snapshot hooks, then asks for restore/next (or /next).
    event = next_event("waiting", "init_error")
    if event[0] == "init_error":
        _, error, header_type = event
        if header_type == BEFORE_SNAPSHOT_ERROR:
            # awslambdaric posts the hook's own exception with the header Runtime.BeforeSnapshotError: to the
            # supervisor, Init worked and the before-snapshot phase failed.
            channel.send(protocol.init_done())
            command = channel.receive()
            if protocol.message_type(command) == protocol.BEFORE_SNAPSHOT:
                channel.send(protocol.before_snapshot_error(error))
        else:
            channel.send(protocol.init_error(error))
        exit_with_runtime()
    held = event[1]
    INIT_END[0] = time.time()
    summary = None
    if host is not None:
        # Init ends when every extension waits for its next event too.
        def report(error):
            os.kill(runtime_pid, signal.SIGKILL)
            channel.send(protocol.init_error(error))
            os._exit(1)
        summary = host.finish_init(report)
    if INSPECTING:
        # awslambdaric ran (and emptied) the before-snapshot hooks already; the after-restore ones are still there.
        hooks = ask_inspector({"op": "hooks"})
        channel.send(protocol.init_done(after_restore_hooks=hooks["afterRestore"], parked_in=held, extensions=summary))
    else:
        channel.send(protocol.init_done(parked_in=held, extensions=summary))

    # Before the snapshot the supervisor may invoke a runtime that waits in /next (the on-demand path).
    while True:
        command = channel.receive()
        kind = protocol.message_type(command)
        if kind == protocol.INVOKE and held == "next":
            invoke(channel, command, runtime_pid)
            event = next_event("waiting")
            continue
        if kind == protocol.INSPECT:
            send_facts(channel, restored=False)
            continue
        if kind != protocol.BEFORE_SNAPSHOT:
            os.kill(runtime_pid, signal.SIGKILL)
            os._exit(0)
        break

    # The hooks ran already (before restore/next): park. The channel closes first (CRIU cannot dump a socket to a
    # peer outside the tree); the runtime's request stays open across the checkpoint.
    if host is not None:
        host.end_init()  # the snapshot's Init: held in it, delivered by each copy (telemetry.py)
    channel.send(protocol.snapshot_ready())
    channel.close()
    signal.sigwait({signal.SIGUSR1})
    if host is not None:
        host.telemetry.restore_start(time.time())

    channel = Channel()
    channel.send(protocol.hello("restore", os.getpid()))
    command = channel.receive()
    if protocol.message_type(command) != protocol.AFTER_RESTORE:
        os.kill(runtime_pid, signal.SIGKILL)
        os._exit(0)
    rotated = protocol.restore_environment(command)
    if rotated.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        CREDENTIALS["uri"] = rotated["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        CREDENTIALS["token"] = rotated.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    if held == "restore":
        with STATE.lock:
            STATE.phase = "restoring"
        STATE.answer(200)
        event = next_event("waiting", "restore_error")
        if event[0] == "restore_error":
            if host is not None:
                host.restore_done("error", event[1].get("errorType"))
            channel.send(protocol.after_restore_error(event[1]))
            exit_with_runtime()
    else:
        with STATE.lock:
            STATE.phase = "idle"
    if host is not None:
        host.restore_done()
    channel.send(protocol.restored())
    serve(channel, runtime_pid)
