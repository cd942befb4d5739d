"""Lambda's Telemetry API inside the environment (schema 2022-12-13): subscriptions of extensions, and the platform
events pushed to them as JSON arrays over HTTP, batched as each subscription's buffering says.

SnapStart: events are held while a SnapStart Init runs, so the snapshot holds them, Init's events and all, and each
restored copy delivers the snapshot's Init events (with the snapshot's times) and then its own restore events, as
restored environments on Lambda receive them (DataDog/datadog-lambda-extension#911: "cold start" spans hours long,
from the snapshot's platform.initStart).
"""
import http.client
import json
import os
import selectors
import threading
import time
import urllib.parse

PATH = "/2022-07-01/telemetry"
SCHEMA_VERSIONS = ("2025-01-29", "2022-12-13", "2022-07-01")
# Where a subscriber may listen: inside the environment (sandbox.localdomain is the environment's own 169.254.100.1).
DESTINATION_HOSTS = ("sandbox.localdomain", "169.254.100.1")
TYPES = ("platform", "function", "extension")
# Lambda's buffering limits and defaults: (least, most, default).
BUFFERING = {"maxItems": (1000, 10000, 10000), "maxBytes": (262144, 1048576, 262144), "timeoutMs": (25, 30000, 1000)}


# Init's events kept for subscriptions made later in Init: a subscription's largest batch (a flood of output during
# Init cannot grow the environment's memory without bound; what is past it is not replayed).
BACKLOG_ITEMS = 10000


def now_iso(at=None):
    """Lambda's event times: UTC, milliseconds, Z."""
    at = time.time() if at is None else at
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + ".%03dZ" % int(at % 1 * 1000)


def category(kind):
    return "platform" if kind.startswith("platform.") else kind


class Subscription:
    def __init__(self, extension, types, buffering, uri, schema):
        self.extension = extension
        self.structured_logs = schema >= "2022-12-13"  # JSON log lines as objects, not strings
        self.types = types
        self.max_items, self.max_bytes, self.timeout_ms = (buffering[k] for k in ("maxItems", "maxBytes", "timeoutMs"))
        self.uri = urllib.parse.urlsplit(uri)
        self.buffer = []  # (event, its size)
        self.sending = False
        self.urgent = False  # send what is buffered now (the end of an invocation, the environment's end)
        self.first_at = None  # monotonic time of the oldest buffered event


class Telemetry:
    def __init__(self, hold, environ, runtime_version=""):
        self.cond = threading.Condition()
        self.hold = hold  # nothing is delivered while True (a SnapStart Init)
        self.environ = environ
        self.runtime_version = runtime_version
        self.subscriptions = []
        self.backlog = []  # Init's events, for subscriptions made later in Init
        self.closed = False  # subscriptions are taken during Init only

    # --- events --------------------------------------------------------------------------------------------------

    def emit(self, kind, record, at=None):
        event = {"time": now_iso(at), "type": kind, "record": record}
        size = len(json.dumps(event))
        with self.cond:
            if self.backlog is not None and len(self.backlog) < BACKLOG_ITEMS:
                self.backlog.append((event, size, event))
            for subscription in self.subscriptions:
                if category(kind) in subscription.types:
                    self._add(subscription, event, size)
            self.cond.notify_all()

    def emit_log(self, kind, line):
        """A line of the function's (`function`) or an extension's (`extension`) output. A JSON line (the JSON log
        format) is its object for subscriptions of schema 2022-12-13 and later, and the text for older ones."""
        with self.cond:
            wanted = (self.backlog is not None and len(self.backlog) < BACKLOG_ITEMS) or any(
                kind in s.types for s in self.subscriptions)
        if not wanted:
            return  # nobody will read it: the line costs the relay nothing more
        parsed = None
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                pass
        at = now_iso()
        plain = {"time": at, "type": kind, "record": line}
        structured = {"time": at, "type": kind, "record": parsed} if isinstance(parsed, dict) else plain
        sizes = {id(plain): len(json.dumps(plain)), id(structured): len(json.dumps(structured))}
        with self.cond:
            if self.backlog is not None and len(self.backlog) < BACKLOG_ITEMS:
                self.backlog.append((plain, sizes[id(plain)], structured))
            for subscription in self.subscriptions:
                if kind in subscription.types:
                    event = structured if subscription.structured_logs else plain
                    self._add(subscription, event, sizes[id(event)])
            self.cond.notify_all()

    def _add(self, subscription, event, size):
        if not subscription.buffer:
            subscription.first_at = time.monotonic()
        subscription.buffer.append((event, size))

    def close_subscriptions(self):
        with self.cond:
            self.closed = True

    def release(self):
        """Delivery starts (after a restore, or at the end of an on-demand Init); Init's backlog is closed."""
        with self.cond:
            self.hold = False
            self.backlog = None
            self.cond.notify_all()

    def function_facts(self):
        env = self.environ
        return {"functionName": env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
                "functionVersion": env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")}

    def runtime_facts(self):
        version = self.runtime_version
        return {"runtimeVersion": version,
                "runtimeVersionArn": "arn:aws:lambda:{}::runtime:snapharness-{}".format(
                    self.environ.get("AWS_REGION", "us-east-1"), version.replace(":", "-"))}

    def init_start(self):
        record = {"initializationType": self.initialization_type(), "phase": "init"}
        record.update(self.runtime_facts())
        record.update(self.function_facts())
        record["instanceMaxMemory"] = int(self.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")) << 20
        self.init_started = time.time()
        self.emit("platform.initStart", record, at=self.init_started)

    def init_runtime_done(self, status="success", error_type=None):
        done = {"initializationType": self.initialization_type(), "phase": "init", "status": status}
        if error_type:
            done["errorType"] = error_type
        self.emit("platform.initRuntimeDone", done)

    def init_report(self, status="success", error_type=None):
        report = {"initializationType": self.initialization_type(), "phase": "init", "status": status,
                  "metrics": {"durationMs": round((time.time() - self.init_started) * 1000, 3)}}
        if error_type:
            report["errorType"] = error_type
        self.emit("platform.initReport", report)

    def initialization_type(self):
        return self.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")

    def restore_start(self, at):
        record = dict(self.runtime_facts())
        record.update(self.function_facts())
        record["instanceMaxMemory"] = int(self.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")) << 20
        self.restore_started = at
        self.emit("platform.restoreStart", record, at=at)

    def restore_done(self, status="success", error_type=None):
        done = {"status": status}
        if error_type:
            done["errorType"] = error_type
        self.emit("platform.restoreRuntimeDone", done)
        report = {"status": status, "metrics": {"durationMs": round((time.time() - self.restore_started) * 1000, 3)}}
        if error_type:
            report["errorType"] = error_type
        self.emit("platform.restoreReport", report)

    def extension(self, name, state, events, error_type=None):
        record = {"name": name, "state": state, "events": list(events)}
        if error_type:
            record["errorType"] = error_type
        self.emit("platform.extension", record)

    def invoke_start(self, request_id, trace_id):
        record = {"requestId": request_id, "version": self.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")}
        if trace_id:
            record["tracing"] = {"type": "X-Amzn-Trace-Id", "value": trace_id}
        self.invoke_started = time.time()
        self.emit("platform.start", record, at=self.invoke_started)

    def runtime_done(self, request_id, status, produced_bytes, error_type=None):
        self.runtime_finished = time.time()
        record = {"requestId": request_id, "status": status,
                  "metrics": {"durationMs": round((self.runtime_finished - self.invoke_started) * 1000, 3),
                              "producedBytes": produced_bytes}}
        if error_type:
            record["errorType"] = error_type
        self.emit("platform.runtimeDone", record)

    def report(self, request_id, status, max_memory_mb, restore_ms=None, error_type=None):
        duration = (time.time() - self.invoke_started) * 1000
        metrics = {"durationMs": round(duration, 3), "billedDurationMs": max(1, int(-(-duration // 1))),
                   "memorySizeMB": int(self.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
                   "maxMemoryUsedMB": max_memory_mb}
        if restore_ms is not None:
            metrics["restoreDurationMs"] = round(restore_ms, 3)
        record = {"requestId": request_id, "status": status, "metrics": metrics}
        if error_type:
            record["errorType"] = error_type
        self.emit("platform.report", record)

    # --- subscriptions -------------------------------------------------------------------------------------------

    def subscribe(self, extension, body):
        """PUT /2022-07-01/telemetry from `extension` (its name): (status, headers, body)."""
        try:
            request = json.loads(body or b"")
            types, buffering, uri, schema = validate(request)
        except ValueError as e:
            return 400, {}, json.dumps({"errorMessage": str(e), "errorType": "ValidationError"}).encode()
        subscription = Subscription(extension, types, buffering, uri, schema)
        with self.cond:
            if self.closed:
                return 403, {}, json.dumps({"errorMessage": "Telemetry API subscription is closed",
                                            "errorType": "Telemetry.SubscriptionClosed"}).encode()
            self.subscriptions = [s for s in self.subscriptions if s.extension != extension] + [subscription]
            for event, size, structured in self.backlog or []:
                if category(event["type"]) in types:
                    if subscription.structured_logs and structured is not event:
                        self._add(subscription, structured, len(json.dumps(structured)))
                    else:
                        self._add(subscription, event, size)
        threading.Thread(target=self._deliver, args=(subscription,), daemon=True,
                         name="snapharness-telemetry").start()
        self.emit("platform.telemetrySubscription", {"name": extension, "state": "Subscribed", "types": types})
        return 200, {}, b'"OK"'

    def _deliver(self, subscription):
        """Pushes the subscription's buffer when it holds maxItems or maxBytes, or its oldest event is timeoutMs old."""
        while True:
            with self.cond:
                while True:
                    if subscription not in self.subscriptions:
                        return
                    if subscription.buffer and not self.hold:
                        size = sum(s for _, s in subscription.buffer)
                        waited = (time.monotonic() - subscription.first_at) * 1000
                        if (len(subscription.buffer) >= subscription.max_items or size >= subscription.max_bytes
                                or waited >= subscription.timeout_ms or subscription.urgent):
                            break
                        self.cond.wait((subscription.timeout_ms - waited) / 1000)
                    else:
                        self.cond.wait()
                batch = [event for event, _ in subscription.buffer[:subscription.max_items]]
                del subscription.buffer[:len(batch)]
                subscription.first_at = time.monotonic() if subscription.buffer else None
                subscription.urgent = bool(subscription.buffer) and subscription.urgent
                subscription.sending = True
            failure = post(subscription.uri, batch)
            with self.cond:
                subscription.sending = False
                self.cond.notify_all()
            if failure and any(e["type"] != "platform.logsDropped" for e in batch):
                self.emit("platform.logsDropped", {"droppedBytes": len(json.dumps(batch)), "droppedRecords": len(batch),
                                                   "reason": "could not send events: {}".format(failure)})

    def send_now(self):
        """Batches go out now, whatever their buffering (the end of an invocation), unless delivery is held."""
        with self.cond:
            for subscription in self.subscriptions:
                subscription.urgent = bool(subscription.buffer)
            self.cond.notify_all()

    def flush(self, timeout):
        """Sends what is buffered and waits (up to `timeout` seconds) until it went out: at the environment's end."""
        deadline = time.monotonic() + timeout
        self.release()
        self.send_now()
        with self.cond:
            while any(s.buffer or s.sending for s in self.subscriptions) and time.monotonic() < deadline:
                self.cond.wait(0.01)

    def subscribed(self):
        """{extension name: its subscription's types}."""
        with self.cond:
            return {s.extension: list(s.types) for s in self.subscriptions}


def validate(request):
    """(types, buffering, uri) of a subscription request, or ValueError saying what is wrong."""
    if not isinstance(request, dict):
        raise ValueError("the request body must be a JSON object")
    if request.get("schemaVersion") not in SCHEMA_VERSIONS:
        raise ValueError("schemaVersion must be one of {}".format(", ".join(SCHEMA_VERSIONS)))
    types = request.get("types")
    if not isinstance(types, list) or not types or not all(t in TYPES for t in types):
        raise ValueError("types must be a non-empty list of {}".format(", ".join(TYPES)))
    given = request.get("buffering") or {}
    if not isinstance(given, dict):
        raise ValueError("buffering must be an object")
    buffering = {}
    for key, (least, most, default) in BUFFERING.items():
        value = given.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
            raise ValueError("buffering.{} must be an integer from {} to {}".format(key, least, most))
        buffering[key] = value
    destination = request.get("destination")
    if not isinstance(destination, dict) or destination.get("protocol") != "HTTP":
        raise ValueError("destination.protocol must be HTTP")
    uri = destination.get("URI")
    parts = urllib.parse.urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or parts.scheme != "http" or not parts.hostname:
        raise ValueError("destination.URI must be an http:// address (http://sandbox.localdomain:PORT/...)")
    if parts.hostname not in DESTINATION_HOSTS:
        raise ValueError("destination.URI host must be sandbox.localdomain")
    return list(dict.fromkeys(types)), buffering, uri, request["schemaVersion"]


def post(uri, batch):
    """One POST of a JSON array to the subscriber: None, or why it failed (the batch is dropped, as the Runtime
    Interface Emulator drops it)."""
    body = json.dumps(batch).encode()
    target = (uri.path or "/") + ("?" + uri.query if uri.query else "")
    try:
        connection = http.client.HTTPConnection(uri.hostname, uri.port or 80, timeout=5)
        try:
            connection.request("POST", target, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return "status {}".format(response.status) if response.status >= 400 else None
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as e:
        return str(e) or type(e).__name__


class LogRelay:
    """Output on its way to the function's log (the supervisor's pipes): copied through unchanged, complete lines at
    a time, and each line also a `function` or `extension` record for the Telemetry API. One thread for every
    pipe, so lines from several processes never interleave mid-line."""

    def __init__(self, telemetry):
        self.telemetry = telemetry
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = os.pipe()
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._run, daemon=True, name="snapharness-logs")
        self.thread.start()

    def add(self, read_fd, out_fd, kind):
        """Relays `read_fd` (a pipe's read end, owned from now on) to `out_fd` as `kind` records."""
        with self.lock:
            self.selector.register(read_fd, selectors.EVENT_READ, [out_fd, kind, b""])
        os.write(self.wake_w, b"x")

    def settle(self, timeout=1.0):
        """Waits until what was written so far went through (before this process ends: its pipes die with it)."""
        import fcntl
        import struct
        import termios
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                fds = [key.fd for key in self.selector.get_map().values() if key.data is not None]
            pending = 0
            for fd in fds:
                try:
                    pending += struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
                except OSError:
                    pass
            if not pending:
                time.sleep(0.002)  # the relay's last write
                return
            time.sleep(0.001)

    def pipe(self, out_fd, kind):
        """A new pipe relayed to `out_fd`: its write end, for a process to write to."""
        read_fd, write_fd = os.pipe()
        self.add(read_fd, out_fd, kind)
        return write_fd

    def _run(self):
        while True:
            with self.lock:
                ready = self.selector.select(0)
            if not ready:
                ready = self.selector.select()
            for key, _ in ready:
                if key.data is None:
                    os.read(self.wake_r, 4096)
                    continue
                try:
                    data = os.read(key.fd, 65536)
                except OSError:
                    data = b""
                state = key.data
                if not data:
                    with self.lock:
                        self.selector.unregister(key.fd)
                    os.close(key.fd)
                    self._forward(state, state[2], final=True)
                    continue
                self._forward(state, state[2] + data)

    def _forward(self, state, data, final=False):
        out_fd, kind, _ = state
        cut = len(data) if final else data.rfind(b"\n") + 1
        complete, state[2] = data[:cut], data[cut:]
        if not complete:
            return
        text = complete.decode("utf-8", "replace")
        try:
            while complete:
                complete = complete[os.write(out_fd, complete):]
        except OSError:
            pass
        for line in text.split("\n"):  # (not splitlines: it splits at the marker's \x1e too)
            line = line.split("\x1e", 1)[0].rstrip("\r")  # the end-of-invocation marker is not the function's
            if line:
                self.telemetry.emit_log(kind, line)
