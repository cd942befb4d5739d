"""The Runtime API server's HTTP side (snapharness_agent/api.py): a real server on a loopback port, its request
handling and state machine, with a fresh State per test; and the pieces that turn an `invoke` into the runtime's
headers and the runtime's response into a `result`."""
import http.client
import json
import threading

import pytest

from conftest import FIXTURES
from snapharness_agent import api, protocol

RUNTIME = api.PREFIX


@pytest.fixture
def server(monkeypatch):
    """(port, state): the server's handler on 127.0.0.1, an ephemeral port, with a state of its own."""
    state = api.State()
    monkeypatch.setattr(api, "STATE", state)
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    httpd = api.extensions.Server(("127.0.0.1", 0), api.RuntimeAPI)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.server_address[1], state
    httpd.shutdown()
    httpd.server_close()


def call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)
    finally:
        conn.close()


def test_an_unknown_path_is_404(server):
    port, _ = server
    assert call(port, "GET", "/2018-06-01/runtime/nothing") == (
        404, {"errorMessage": "Unknown Runtime API path /2018-06-01/runtime/nothing", "errorType": "InvalidRequest"})
    assert call(port, "POST", "/elsewhere", b"{}")[0] == 404


def test_restore_next_outside_snapstart_is_refused(server):
    port, state = server
    assert call(port, "GET", RUNTIME + "/restore/next") == (403, {
        "errorMessage": "State transition from init to RestoreNext failed", "errorType": "InvalidStateTransition"})
    assert state.phase == "init"


def test_init_error_is_accepted_once_in_init_and_reported_with_its_header_type(server):
    port, state = server
    headers = {api.ERROR_TYPE_HEADER: "Runtime.BeforeSnapshotError", "Content-Type": "application/json"}
    body = json.dumps({"errorMessage": "pool closed", "errorType": "RuntimeError", "stackTrace": []}).encode()
    assert call(port, "POST", RUNTIME + "/init/error", body, headers) == (202, {"status": "OK"})
    assert state.events.get(timeout=5) == (
        "init_error", {"errorMessage": "pool closed", "errorType": "RuntimeError", "stackTrace": []},
        "Runtime.BeforeSnapshotError")
    assert state.phase == "gone"
    assert call(port, "POST", RUNTIME + "/init/error", body, headers)[0] == 403


def test_an_error_body_that_is_not_an_object_becomes_the_message(server):
    port, state = server
    assert call(port, "POST", RUNTIME + "/init/error", b"plain text", {api.ERROR_TYPE_HEADER: "Runtime.Custom"})[0] \
        == 202
    assert state.events.get(timeout=5) == (
        "init_error", {"errorMessage": "plain text", "errorType": "Runtime.Custom"}, "Runtime.Custom")


def test_responses_for_unknown_and_finished_invocations(server):
    port, state = server
    assert call(port, "POST", RUNTIME + "/invocation/nobody/response", b"{}") == (
        400, {"errorMessage": "Invalid request ID: nobody", "errorType": "InvalidRequestID"})
    with state.lock:
        state.phase, state.request_id = "invoking", "r1"
        state.seen_ids.add("r1")
    assert call(port, "POST", RUNTIME + "/invocation/r1/response", b'{"ok": true}',
                {"Content-Type": "application/json"}) == (202, {"status": "OK"})
    assert state.events.get(timeout=5) == ("result", "r1", b'{"ok": true}', "application/json")
    assert state.phase == "idle"
    assert call(port, "POST", RUNTIME + "/invocation/r1/error", b"{}") == (403, {
        "errorMessage": "State transition from idle to InvocationError failed", "errorType": "InvalidStateTransition"})


def test_a_response_over_6_mib_is_413_and_fails_the_invocation(server):
    port, state = server
    with state.lock:
        state.phase, state.request_id = "invoking", "r2"
        state.seen_ids.add("r2")
    status, body = call(port, "POST", RUNTIME + "/invocation/r2/response", b"x" * (api.MAX_PAYLOAD + 1))
    assert status == 413 and body["errorType"] == "RequestEntityTooLarge"
    kind, request_id, error = state.events.get(timeout=5)
    assert (kind, request_id, error["errorType"]) == ("error", "r2", "Function.ResponseSizeTooLarge")
    assert state.phase == "invoking"  # still the runtime's to answer


def test_credentials_need_the_functions_token(server):
    port, _ = server
    assert call(port, "GET", api.CREDENTIALS_PATH, headers={"Authorization": "not-the-token"}) == (
        403, {"errorMessage": "invalid authorization token", "errorType": "AccessDenied"})


def test_invocation_headers_carry_only_the_fields_the_invocation_has():
    with open(FIXTURES + "/supervisor/invoke.json") as f:
        full = protocol.invocation(json.load(f))
    headers = api.invocation_headers(full)
    assert headers == {
        "Lambda-Runtime-Aws-Request-Id": full.request_id, "Lambda-Runtime-Deadline-Ms": "1733400003125",
        "Lambda-Runtime-Invoked-Function-Arn": full.invoked_function_arn, "Content-Type": "application/json",
        "Lambda-Runtime-Trace-Id": full.trace_id, "Lambda-Runtime-Client-Context": full.client_context}
    bare = protocol.invocation({"requestId": "r", "event": "{}", "deadlineMs": 5, "traceId": ""})
    assert api.invocation_headers(bare) == {
        "Lambda-Runtime-Aws-Request-Id": "r", "Lambda-Runtime-Deadline-Ms": "5",
        "Lambda-Runtime-Invoked-Function-Arn": "", "Content-Type": "application/json"}


@pytest.mark.parametrize("data,content_type,expected", [
    (b'{"a": 1}', "application/json", '{"a": 1}'),
    (b'"caf\xc3\xa9"', "application/json; charset=utf-8", '"caf\u00e9"'),
    (b"\xff\xfe", "application/json", b"\xff\xfe"),          # not UTF-8: sent as bytes
    (b"raw", "application/unknown", b"raw"),                  # awslambdaric's bytes results
    (b"{}", "", b"{}"),
])
def test_response_payload_is_text_only_for_utf8_json(data, content_type, expected):
    assert api.response_payload(data, content_type) == expected
