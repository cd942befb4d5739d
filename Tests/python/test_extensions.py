"""Lambda's Extensions API and Telemetry API as the environment serves them (snapharness_agent/extensions.py and
telemetry.py): a real server on a loopback port with a Host of its own per test, real subscribers on loopback, real
pipes through the log relay and a real process for the Shutdown phase's kill. The whole lifecycle under CRIU is
Tests/SnapHarnessTests/ExtensionsTests.swift."""
import gc
import http.client
import http.server
import json
import os
import subprocess
import threading
import time
import uuid

import pytest

from snapharness_agent import extensions, telemetry

ENVIRON = {"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "_HANDLER": "app.handler",
           "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}


@pytest.fixture
def host(monkeypatch):
    """(port, host): the environment's API server on an ephemeral port, serving a fresh Host whose external
    extensions are `ext-a` and `ext-b` (launched: their pids are stand-ins until a test needs a real one)."""
    h = extensions.Host(dict(ENVIRON), telemetry_hold=True, runtime_version="python:3.13.snapharness")
    h.telemetry.init_start()
    h.launched = {"ext-a": -1001, "ext-b": -1002}
    monkeypatch.setattr(extensions, "HOST", h)
    monkeypatch.setattr(telemetry, "DESTINATION_HOSTS", telemetry.DESTINATION_HOSTS + ("127.0.0.1",))
    httpd = extensions.Server(("127.0.0.1", 0), extensions.Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd.server_address[1], h
    # Requests still held in event/next get an answer, so no test leaves a live connection behind (the inspector's
    # tests look for them).
    with h.cond:
        for extension in h.by_id.values():
            extension.pending.append({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 0})
        h.cond.notify_all()
    time.sleep(0.1)
    httpd.shutdown()
    httpd.server_close()
    gc.collect()


def call(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), (json.loads(data) if data else None)
    finally:
        conn.close()


def register(port, name, events=("INVOKE", "SHUTDOWN"), features=None):
    headers = {extensions.NAME_HEADER: name}
    if features:
        headers[extensions.FEATURE_HEADER] = features
    return call(port, "POST", extensions.PREFIX + "/register", json.dumps({"events": list(events)}).encode(), headers)


def next_event(port, identifier, timeout=10):
    return call(port, "GET", extensions.PREFIX + "/event/next", headers={extensions.ID_HEADER: identifier},
                timeout=timeout)


def in_thread(target, *args):
    """Runs target(*args) on a thread; the returned list gets its result."""
    out = []
    thread = threading.Thread(target=lambda: out.append(target(*args)), daemon=True)
    thread.start()
    return out, thread


def test_register_answers_with_an_identifier_and_the_functions_facts(host):
    port, _ = host
    status, headers, body = register(port, "ext-a")
    assert status == 200
    uuid.UUID(headers[extensions.ID_HEADER])
    assert body == {"functionName": "fn", "functionVersion": "$LATEST", "handler": "app.handler"}
    status, _, body = register(port, "in-process", events=["INVOKE"], features="accountId")
    assert status == 200 and body["accountId"] == extensions.ACCOUNT_ID


@pytest.mark.parametrize("name,events,error_type,message", [
    ("", ["INVOKE"], "Extension.InvalidExtensionName", "Empty extension name"),
    ("ext-a", ["INVOKE", "FOO"], "Extension.InvalidEventType", "FOO: ErrorInvalidEventType"),
    ("in-process", ["SHUTDOWN"], "Extension.InvalidEventType", "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension"),
])
def test_register_refuses_as_lambda_does(host, name, events, error_type, message):
    port, h = host
    status, _, body = register(port, name, events)
    assert (status, body) == (403, {"errorMessage": message, "errorType": error_type})
    assert h.by_name == {}


def test_registering_twice_or_after_init_is_refused(host):
    port, h = host
    assert register(port, "ext-a")[0] == 200
    assert register(port, "ext-a")[2]["errorType"] == "Extension.InvalidExtensionState"
    h.registration_closed = True
    assert register(port, "late-internal", events=["INVOKE"])[2] == {
        "errorMessage": "Extension registration closed already", "errorType": "Extension.RegistrationClosed"}


@pytest.mark.parametrize("identifier,error_type", [
    (None, "Extension.MissingExtensionIdentifier"), ("not-a-uuid", "Extension.InvalidExtensionIdentifier"),
    (str(uuid.uuid4()), "Extension.UnknownExtensionIdentifier")])
def test_event_next_needs_a_registered_identifier(host, identifier, error_type):
    port, _ = host
    headers = {extensions.ID_HEADER: identifier} if identifier else {}
    status, _, body = call(port, "GET", extensions.PREFIX + "/event/next", headers=headers)
    assert status == 403 and body["errorType"] == error_type


def test_init_ends_when_every_extension_waits_and_each_gets_the_invoke_event(host):
    port, h = host
    ids = [register(port, name)[1][extensions.ID_HEADER] for name in ("ext-a", "ext-b")]
    h.await_registration()
    ready, waiter = in_thread(h.await_ready)
    first, _ = in_thread(next_event, port, ids[0])
    time.sleep(0.2)
    assert not ready, "Init must wait for ext-b's event/next"
    second, _ = in_thread(next_event, port, ids[1])
    waiter.join(5)
    assert ready == [None] and h.phase == "running"
    invocation = type("Invocation", (), {"request_id": "req-1", "deadline_ms": 123, "trace_id": "Root=1-a-b",
                                         "invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn"})
    h.begin_invoke(invocation)
    deadline = time.time() + 5
    while (not first or not second) and time.time() < deadline:
        time.sleep(0.01)
    for got in (first, second):
        status, headers, event = got[0]
        assert status == 200 and extensions.EVENT_ID_HEADER in headers
        assert event == {"eventType": "INVOKE", "deadlineMs": 123, "requestId": "req-1",
                         "invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
                         "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-a-b"}}
    idle, waiter = in_thread(h.await_idle)
    time.sleep(0.1)
    assert not idle, "the Invoke phase lasts until every extension is back in event/next"
    in_thread(next_event, port, ids[0])
    in_thread(next_event, port, ids[1])
    waiter.join(5)
    assert idle == [None]


def test_an_extension_that_exits_fails_init_whatever_its_code(host):
    port, h = host
    register(port, "ext-a")
    assert h.exited(-1002, 0)
    with pytest.raises(extensions.Failure) as failure:
        h.await_registration()
    assert failure.value.error_type == "Extension.Crash" and "ext-b exited with code 0" in failure.value.message


def test_init_error_fails_init_with_lambdas_type(host):
    port, h = host
    identifier = register(port, "ext-a")[1][extensions.ID_HEADER]
    headers = {extensions.ID_HEADER: identifier}
    assert call(port, "POST", extensions.PREFIX + "/init/error", b"{}", headers)[2] == {
        "errorMessage": "Lambda-Extension-Function-Error-Type not found", "errorType": "Extension.MissingHeader"}
    headers[extensions.ERROR_TYPE_HEADER] = "Extension.ConfigMissing"
    assert call(port, "POST", extensions.PREFIX + "/init/error", b"{}", headers)[:1] == (202,)
    with pytest.raises(extensions.Failure) as failure:
        h.await_ready()
    assert failure.value.error_type == "Extension.InitError"
    assert "Extension.ConfigMissing" in failure.value.message


def test_shutdown_gives_lambdas_deadline_then_kills(host, monkeypatch):
    port, h = host
    monkeypatch.setattr(extensions, "SHUTDOWN_SECONDS", 0.5)
    stubborn = subprocess.Popen(["sleep", "60"])
    h.launched = {"ext-a": stubborn.pid}
    identifier = register(port, "ext-a")[1][extensions.ID_HEADER]
    got, _ = in_thread(next_event, port, identifier)
    time.sleep(0.1)
    started = time.monotonic()
    h.shutdown()
    took = time.monotonic() - started
    assert got and got[0][2]["eventType"] == "SHUTDOWN" and got[0][2]["shutdownReason"] == "spindown"
    assert got[0][2]["deadlineMs"] > time.time() * 1000 - 1000
    assert 0.5 <= took < 2.0, took
    assert stubborn.wait(5) == -9, "an extension still running at the deadline is killed"


class Receiver:
    """A Telemetry API subscriber on loopback: every batch it was sent."""

    def __init__(self):
        batches = self.batches = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                batches.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.uri = "http://127.0.0.1:%d/telemetry" % self.httpd.server_address[1]

    def events(self, wait_for=None, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            seen = [e for batch in self.batches for e in batch]
            if wait_for is None or any(e["type"] == wait_for for e in seen):
                return seen
            time.sleep(0.01)
        return [e for batch in self.batches for e in batch]


def subscribe(port, identifier, uri, types=("platform",), schema="2022-12-13", **buffering):
    body = {"schemaVersion": schema, "types": list(types), "buffering": {"timeoutMs": 25, **buffering},
            "destination": {"protocol": "HTTP", "URI": uri}}
    return call(port, "PUT", telemetry.PATH, json.dumps(body).encode(), {extensions.ID_HEADER: identifier})


@pytest.mark.parametrize("change,message", [
    ({"schemaVersion": "2020-01-01"}, "schemaVersion must be one of"),
    ({"types": ["platform", "logs"]}, "types must be a non-empty list"),
    ({"buffering": {"timeoutMs": 10}}, "buffering.timeoutMs must be an integer from 25 to 30000"),
    ({"buffering": {"maxItems": 20000}}, "buffering.maxItems must be an integer from 1000 to 10000"),
    ({"destination": {"protocol": "HTTP", "URI": "http://example.com:80/"}}, "host must be sandbox.localdomain"),
    ({"destination": {"protocol": "TCP", "port": 9}}, "destination.protocol must be HTTP"),
])
def test_a_bad_subscription_is_a_validation_error(host, change, message):
    port, _ = host
    identifier = register(port, "ext-a")[1][extensions.ID_HEADER]
    body = {"schemaVersion": "2022-12-13", "types": ["platform"],
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}}
    body.update(change)
    status, _, answer = call(port, "PUT", telemetry.PATH, json.dumps(body).encode(), {extensions.ID_HEADER: identifier})
    assert status == 400 and answer["errorType"] == "ValidationError" and message in answer["errorMessage"]


def test_a_snapstart_init_is_held_then_each_copy_gets_it_before_its_restore(host):
    """Init's events are held in the snapshot: a subscriber gets them only once the copy's restore is done, with the
    Init's times, followed by the copy's own restore events (DataDog/datadog-lambda-extension#911)."""
    port, h = host
    receiver = Receiver()
    identifier = register(port, "ext-a")[1][extensions.ID_HEADER]
    assert subscribe(port, identifier, receiver.uri)[::2] == (200, "OK")
    h.end_init()
    time.sleep(0.2)
    assert receiver.batches == [], "nothing is delivered during a SnapStart Init"
    h.telemetry.restore_start(time.time())
    h.restore_done()
    types = [e["type"] for e in receiver.events(wait_for="platform.restoreReport")]
    assert types == ["platform.initStart", "platform.telemetrySubscription", "platform.initRuntimeDone",
                     "platform.extension", "platform.initReport", "platform.restoreStart",
                     "platform.restoreRuntimeDone", "platform.restoreReport"], types
    events = receiver.events()
    assert events[0]["record"]["initializationType"] == "snap-start"
    assert events[0]["record"]["functionName"] == "fn" and events[0]["record"]["instanceMaxMemory"] == 256 << 20
    assert events[0]["record"]["runtimeVersion"] == "python:3.13.snapharness"
    assert events[3]["record"] == {"name": "ext-a", "state": "Registered", "events": ["INVOKE", "SHUTDOWN"]}
    assert events[-1]["record"]["status"] == "success" and "durationMs" in events[-1]["record"]["metrics"]
    h.telemetry.close_subscriptions()
    assert subscribe(port, identifier, receiver.uri)[2] == {
        "errorMessage": "Telemetry API subscription is closed", "errorType": "Telemetry.SubscriptionClosed"}


def test_log_lines_go_through_unchanged_and_become_records(host):
    """The relay: bytes out as written (whole lines), each line a record; JSON lines are objects for schema
    2022-12-13 subscribers and text for older ones; the end-of-invocation marker is not a record."""
    port, h = host
    new, old = Receiver(), Receiver()
    identifier = register(port, "ext-a")[1][extensions.ID_HEADER]
    h.telemetry.release()
    assert subscribe(port, identifier, new.uri, types=["function"])[0] == 200
    h.telemetry.subscriptions[0].extension = "earlier"  # a second subscription beside it
    assert subscribe(port, identifier, old.uri, types=["function"], schema="2022-07-01")[0] == 200
    out_r, out_w = os.pipe()
    relay_in = h.logs.pipe(out_w, "function")
    os.write(relay_in, b'plain line\n{"level": "INFO", "message": "hi"}\npart')
    os.write(relay_in, b"ial\x1esnapharness:end:req-1\n")
    deadline = time.time() + 5
    while len(new.events()) < 3 and time.time() < deadline:
        time.sleep(0.01)
    os.close(relay_in)
    h.logs.settle()
    assert os.read(out_r, 4096) == b'plain line\n{"level": "INFO", "message": "hi"}\npartial\x1esnapharness:end:req-1\n'
    assert [e["record"] for e in new.events()] == ["plain line", {"level": "INFO", "message": "hi"}, "partial"]
    assert [e["record"] for e in old.events()] == ["plain line", '{"level": "INFO", "message": "hi"}', "partial"]
    assert {e["type"] for e in new.events()} == {"function"}
