"""The control protocol's Python side against its golden files (Tests/Fixtures/protocol/): the constructors write
exactly the agent fixtures, the agent reads every supervisor fixture, and the constants are the ones the Swift and C
sides use."""
import base64
import glob
import json
import os
import re
import socket

import pytest

from conftest import FIXTURES, ROOT
from snapharness_agent import protocol
from snapharness_agent.channel import Channel
import write_fixtures


def fixture_bytes(relative):
    with open(os.path.join(FIXTURES, relative), "rb") as f:
        return f.read()


def fixture(relative):
    return json.loads(fixture_bytes(relative))


def names(kind):
    return sorted(os.path.basename(p)[:-len(".json")] for p in glob.glob(os.path.join(FIXTURES, kind, "*.json")))


def swift_source(marker):
    """The text of the Swift file under Sources/ that contains `marker` (found wherever the targets put it)."""
    for path in sorted(glob.glob(os.path.join(ROOT, "Sources", "**", "*.swift"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if marker in text:
            return text
    pytest.fail("no Swift file under Sources/ contains %r" % marker)


# --- constants ---------------------------------------------------------------------------------------------------

def test_constants_file_holds_the_python_definitions():
    assert fixture("constants.json") == {"version": 1, "endMark": "\u001esnapharness:end:",
                                         "exitSignalMark": "\u001esnapharness:exit:signal:"}
    assert protocol.VERSION == fixture("constants.json")["version"]
    assert protocol.END_MARK.decode() == fixture("constants.json")["endMark"]
    assert protocol.EXIT_SIGNAL_MARK.decode() == fixture("constants.json")["exitSignalMark"]


def test_the_exit_signal_mark_is_the_one_snapharness_init_writes():
    """snapharness-init (C) writes the exit-signal mark itself; Swift reads constants.json in ProtocolFixtureTests."""
    with open(os.path.join(ROOT, "Sources", "SnapHarnessEngine", "Runtime", "init", "snapharness_init.c")) as f:
        assert '"\\x1e%s%%d\\n"' % protocol.EXIT_SIGNAL_MARK[1:].decode() in f.read()


def test_end_mark_is_the_mark_the_request_id_and_a_newline():
    assert protocol.end_mark("abc-1") == b"\x1esnapharness:end:abc-1\n"
    # Any text the supervisor sent comes back byte for byte, a lone surrogate included.
    assert protocol.end_mark("\u00e9\udc80") == b"\x1esnapharness:end:\xc3\xa9\xed\xb2\x80\n"


# --- agent -> supervisor -----------------------------------------------------------------------------------------

def wire(message):
    """The bytes a real Channel sends for `message`."""
    ours, theirs = socket.socketpair()
    channel = Channel(ours)
    try:
        channel.send(message)
        return theirs.makefile("rb").readline()
    finally:
        channel.close()
        theirs.close()


def test_every_agent_fixture_is_what_the_constructors_send():
    built = write_fixtures.agent_messages()
    assert names("agent") == sorted(name for name, _ in built), "run python3 Tests/python/write_fixtures.py"
    for name, message in built:
        assert wire(message) == fixture_bytes("agent/%s.json" % name), \
            "agent/%s.json is out of date: run python3 Tests/python/write_fixtures.py" % name


def test_supervisor_and_constant_files_are_what_the_script_writes():
    files = write_fixtures.files()
    assert {k for k in files if k.startswith("supervisor/")} == {"supervisor/%s.json" % n for n in names("supervisor")}
    for relative, data in files.items():
        assert fixture_bytes(relative) == data, relative


# What Swift's AgentMessage decodes (ControlMessages.swift), written down independently of the constructors.
def lambda_error_ok(error):
    return (isinstance(error, dict) and isinstance(error.get("errorMessage"), str)
            and isinstance(error.get("errorType"), str)
            and isinstance(error.get("requestId", ""), str)
            and isinstance(error.get("stackTrace", []), list)
            and all(isinstance(line, str) for line in error.get("stackTrace", []))
            and set(error) <= {"errorMessage", "errorType", "requestId", "stackTrace"})


def strings(value):
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def failure_ok(m):
    return set(m) <= {"type", "error", "hint"} and lambda_error_ok(m["error"]) and isinstance(m.get("hint", ""), str)


SHAPES = {
    "hello": lambda m: set(m) == {"type", "protocol", "phase", "pid"} and m["protocol"] == protocol.VERSION
    and m["phase"] in ("init", "restore") and type(m["pid"]) is int,
    "init_done": lambda m: set(m) <= {"type", "beforeSnapshotHooks", "afterRestoreHooks", "parkedIn", "extensions"}
    and strings(m.get("beforeSnapshotHooks", [])) and strings(m.get("afterRestoreHooks", []))
    and m.get("parkedIn", "restore") in ("restore", "next"),
    "init_error": failure_ok,
    "snapshot_ready": lambda m: set(m) == {"type"},
    "before_snapshot_error": failure_ok,
    "restored": lambda m: set(m) == {"type"},
    "after_restore_error": failure_ok,
    "result": lambda m: set(m) - {"payload", "payloadBase64"} == {"type", "requestId", "maxMemoryMB"}
    and len(set(m) & {"payload", "payloadBase64"}) == 1 and isinstance(m.get("payload", ""), str)
    and isinstance(base64.b64decode(m.get("payloadBase64", ""), validate=True), bytes)
    and type(m["maxMemoryMB"]) is int,
    "error": lambda m: set(m) == {"type", "requestId", "error", "maxMemoryMB"} and lambda_error_ok(m["error"])
    and type(m["maxMemoryMB"]) is int,
    "facts": lambda m: set(m) - {"type"} <= {
        "randomState", "randomUsed", "randomDrawn", "randomDrawers", "numpyState", "numpyUsed", "numpyDrawn",
        "numpyDrawers", "values", "cachedCredentials", "environmentCredentials", "hooks", "clients", "openssl",
        "sslUsed", "connections"}
    and set(m["hooks"]) == {"pendingBeforeSnapshot", "afterRestore", "unimported"}
    and all(set(v) == {"path", "kind", "digest", "preview"} for v in m["values"]),
}


def test_agent_fixtures_cover_every_message_swift_decodes():
    swift_types = set(re.findall(r'case "(\w+)": self = \.', swift_source("enum AgentMessage")))
    assert swift_types == set(SHAPES)
    assert {fixture("agent/%s.json" % n)["type"] for n in names("agent")} == swift_types


@pytest.mark.parametrize("name", names("agent"))
def test_agent_fixture_has_the_shape_swift_decodes(name):
    message = fixture("agent/%s.json" % name)
    assert SHAPES[message["type"]](message), message


def test_optional_fields_left_out_when_none():
    assert protocol.init_done() == {"type": "init_done"}
    assert protocol.init_error({"errorMessage": "m", "errorType": "T"}) == {
        "type": "init_error", "error": {"errorMessage": "m", "errorType": "T"}}
    assert "hint" in protocol.init_error({}, hint="")  # an empty hint is still one
    assert protocol.result("r", "null") == {"type": "result", "requestId": "r", "payload": "null"}


def test_result_sends_bytes_as_base64_and_text_as_it_is():
    raw = bytes(range(256))
    message = protocol.result("r", raw, max_memory_mb=1)
    assert base64.b64decode(message["payloadBase64"]) == raw and "payload" not in message
    assert protocol.result("r", "\u2603", max_memory_mb=1)["payload"] == "\u2603"
    assert protocol.result("r", "", max_memory_mb=1)["payload"] == ""  # an empty text stays text


def test_facts_adds_the_type_without_changing_the_facts():
    gathered = {"values": [], "hooks": {}}
    message = protocol.facts(gathered)
    assert message == {"values": [], "hooks": {}, "type": "facts"} and "type" not in gathered


# --- supervisor -> agent -----------------------------------------------------------------------------------------

def test_supervisor_fixtures_cover_every_message_swift_encodes():
    swift_types = set(re.findall(r'c\.encode\("(\w+)", forKey: \.type\)', swift_source("enum SupervisorMessage")))
    assert swift_types == protocol.SUPERVISOR_TYPES
    assert {protocol.message_type(fixture("supervisor/%s.json" % n)) for n in names("supervisor")} == swift_types


def test_invoke_fixture_carries_every_field_swift_encodes_and_the_agent_reads():
    text = swift_source("enum SupervisorMessage")
    block = re.search(r"struct Invocation: Encodable, Sendable \{(.*?)\n    \}", text, re.S).group(1)
    swift_fields = set(re.findall(r"var (\w+):", block))
    assert set(fixture("supervisor/invoke.json")) == swift_fields | {"type"}
    read = {"requestId", "event", "deadlineMs", "invokedFunctionArn", "traceId", "clientContext", "cognitoIdentity",
            "tenantId"}
    assert swift_fields <= read


def test_invoke_is_read_into_an_invocation():
    message = fixture("supervisor/invoke.json")
    assert protocol.message_type(message) == protocol.INVOKE
    invocation = protocol.invocation(message)
    assert invocation.request_id == "8f3c2b1a-6d4e-4f5a-9b8c-7d6e5f4a3b2c"
    assert json.loads(invocation.event) == {"name": "world", "items": [1, 2, 3]}
    assert invocation.deadline_ms == 1733400003125
    assert invocation.invoked_function_arn == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert invocation.trace_id.startswith("Root=1-6751c3a0-")
    assert json.loads(invocation.client_context)["custom"] == {"tenant": "blue"}
    assert invocation.cognito_identity is None and invocation.tenant_id is None


def test_invoke_without_optional_fields():
    invocation = protocol.invocation(fixture("supervisor/invoke-minimal.json"))
    assert (invocation.event, invocation.trace_id, invocation.client_context) == ("{}", None, None)


def test_empty_optional_fields_mean_none_but_the_arn_is_passed_on():
    invocation = protocol.invocation({"type": "invoke", "requestId": "r", "event": "{}", "deadlineMs": 1,
                                      "invokedFunctionArn": "", "traceId": "", "clientContext": "",
                                      "cognitoIdentity": "", "tenantId": ""})
    assert invocation == protocol.Invocation("r", "{}", 1, "", None, None, None, None)


@pytest.mark.parametrize("broken", [
    {"event": "{}", "deadlineMs": 1},                       # no requestId
    {"requestId": "r", "deadlineMs": 1},                    # no event
    {"requestId": "r", "event": "{}"},                      # no deadline
    {"requestId": "r", "event": {}, "deadlineMs": 1},       # an event that is not JSON text
    {"requestId": "r", "event": "{}", "deadlineMs": True},  # a bool is no deadline
    {"requestId": "r", "event": "{}", "deadlineMs": 1, "traceId": 7},
])
def test_invoke_missing_or_mistyped_fields_are_refused(broken):
    with pytest.raises(protocol.ProtocolError):
        protocol.invocation(dict(broken, type="invoke"))


def test_after_restore_environment():
    assert protocol.restore_environment(fixture("supervisor/after_restore.json")) == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.100.1:41377/2021-04-23/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "3c9f6e0b2d8a4f71b5e6c2a9d0f3b8e4"}
    assert protocol.restore_environment(fixture("supervisor/after_restore-noEnvironment.json")) == {}
    with pytest.raises(protocol.ProtocolError):
        protocol.restore_environment({"type": "after_restore", "environment": {"A": 1}})


@pytest.mark.parametrize("name,kind", [("before_snapshot", protocol.BEFORE_SNAPSHOT), ("inspect", protocol.INSPECT),
                                       ("shutdown", protocol.SHUTDOWN)])
def test_bare_supervisor_messages(name, kind):
    assert fixture("supervisor/%s.json" % name) == {"type": kind}
    assert protocol.message_type(fixture("supervisor/%s.json" % name)) == kind


def test_no_message_has_no_type():
    assert protocol.message_type(None) is None  # the supervisor hung up
    assert protocol.message_type([1, 2]) is None
    assert protocol.message_type({}) is None
