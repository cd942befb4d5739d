"""The built-in runtime end to end, started as the supervisor starts it (`python -u snapharness_bootstrap.py`, the
control socket's address on stdin) and driven by this test as a supervisor, without a sandbox or CRIU: every phase of
the protocol, including parking for the checkpoint and waking up on SIGUSR1 to dial a second address as a restored
copy does. Needs the runtime library from `make deps` (snapshot-restore-py, simplejson)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import AGENT_FOLDER, FIXTURES, RUNTIME_LIB

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(RUNTIME_LIB, "snapshot_restore_py.py")),
                                reason="the runtime library is missing: run make deps")

HANDLER = '''
import os
from snapshot_restore_py import register_before_snapshot, register_after_restore

@register_before_snapshot
def close_things():
    print("before-snapshot hook ran")

@register_after_restore
def reconnect():
    print("after-restore hook ran")

def lambda_handler(event, context):
    print("handling", event["name"])
    custom = context.client_context.custom if context.client_context else None
    return {"hello": event["name"], "token": os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            "trace": os.environ.get("_X_AMZN_TRACE_ID"), "arn": context.invoked_function_arn, "custom": custom}
'''


class Supervisor:
    """The supervisor's side: a listening socket per connection, the agent's stdin and output files."""

    def __init__(self, tmp_path, handler_source, handler="lambda_function.lambda_handler"):
        self.tmp = tmp_path
        task = tmp_path / "task"
        task.mkdir()
        (task / "lambda_function.py").write_text(handler_source)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LAMBDA_TASK_ROOT": str(task), "_HANDLER": handler,
               "PYTHONPATH": RUNTIME_LIB, "SNAPHARNESS_RUNTIME_LIB": RUNTIME_LIB, "PYTHONDONTWRITEBYTECODE": "1",
               "AWS_LAMBDA_FUNCTION_NAME": "session"}
        self.stdout = open(tmp_path / "stdout", "wb+")
        self.stderr = open(tmp_path / "stderr", "wb+")
        self.listener = self.listen("first")
        self.process = subprocess.Popen([sys.executable, "-u", os.path.join(AGENT_FOLDER, "snapharness_bootstrap.py")],
                                        stdin=subprocess.PIPE, stdout=self.stdout, stderr=self.stderr, env=env)
        self.conn = self.accept(self.listener, "first")

    def listen(self, name):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.tmp / ("%s.sock" % name)))
        listener.listen(1)
        listener.settimeout(20)
        return listener

    def accept(self, listener, name):
        self.process.stdin.write(str(self.tmp / ("%s.sock" % name)).encode() + b"\n")
        self.process.stdin.flush()
        conn, _ = listener.accept()
        conn.settimeout(20)
        self.reader = conn.makefile("rb")
        return conn

    def send(self, message):
        self.conn.sendall(json.dumps(message).encode() + b"\n")

    def receive(self):
        line = self.reader.readline()
        return json.loads(line) if line else None

    def output(self):
        self.stdout.seek(0)
        self.stderr.seek(0)
        return self.stdout.read(), self.stderr.read()

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.conn.close()
        self.listener.close()
        self.stdout.close()
        self.stderr.close()


@pytest.fixture
def supervisor(tmp_path):
    started = []

    def start(*args, **kwargs):
        started.append(Supervisor(tmp_path, *args, **kwargs))
        return started[-1]
    yield start
    for s in started:
        s.close()


def fixture(name):
    with open(os.path.join(FIXTURES, "supervisor", name + ".json")) as f:
        return json.load(f)


def invoke(name, request_id, event):
    return dict(fixture(name), requestId=request_id, event=json.dumps(event),
                deadlineMs=int(time.time() * 1000) + 3000)


def test_a_whole_snapstart_lifecycle(supervisor):
    s = supervisor(HANDLER)
    assert s.receive() == {"type": "hello", "protocol": 1, "phase": "init", "pid": s.process.pid}
    assert s.receive() == {"type": "init_done", "beforeSnapshotHooks": ["close_things"],
                           "afterRestoreHooks": ["reconnect"]}

    # Before the snapshot: an on-demand invocation and an inspection.
    s.send(invoke("invoke-minimal", "cold-1", {"name": "cold"}))
    result = s.receive()
    assert set(result) == {"type", "requestId", "payload", "maxMemoryMB"} and result["requestId"] == "cold-1"
    assert json.loads(result["payload"]) == {"hello": "cold", "token": None, "trace": None,
                                             "arn": "arn:aws:lambda:us-east-1:000000000000:function:hello",
                                             "custom": None}
    s.send(fixture("inspect"))
    facts = s.receive()
    assert facts["type"] == "facts" and facts["hooks"]["afterRestore"] == ["reconnect"]

    # The checkpoint: hooks, snapshot_ready, then the agent lets go of the socket and parks.
    s.send(fixture("before_snapshot"))
    assert s.receive() == {"type": "snapshot_ready"}
    assert s.reader.readline() == b""
    assert s.process.poll() is None

    # "Restored": a new address on stdin, SIGUSR1, and the agent dials it.
    second = s.listen("second")
    os.kill(s.process.pid, signal.SIGUSR1)
    s.conn.close()
    s.conn = s.accept(second, "second")
    assert s.receive() == {"type": "hello", "protocol": 1, "phase": "restore", "pid": s.process.pid}
    s.send(fixture("after_restore"))
    assert s.receive() == {"type": "restored"}
    s.send(invoke("invoke", "warm-1", {"name": "warm"}))
    result = s.receive()
    assert result["requestId"] == "warm-1"
    assert json.loads(result["payload"]) == {
        "hello": "warm", "token": "3c9f6e0b2d8a4f71b5e6c2a9d0f3b8e4", "trace": fixture("invoke")["traceId"],
        "arn": "arn:aws:lambda:us-east-1:000000000000:function:hello", "custom": {"tenant": "blue"}}
    s.send(fixture("shutdown"))
    assert s.process.wait(timeout=10) == 0
    second.close()

    out, err = s.output()
    assert out == (b"handling cold\n\x1esnapharness:end:cold-1\n"
                   b"before-snapshot hook ran\n"
                   b"after-restore hook ran\n"
                   b"handling warm\n\x1esnapharness:end:warm-1\n")
    assert err == b"\x1esnapharness:end:cold-1\n\x1esnapharness:end:warm-1\n"


def test_a_handler_error_is_reported_with_its_stack_from_the_handler_on(supervisor):
    s = supervisor("def lambda_handler(event, context):\n    return 1 / 0\n")
    assert s.receive()["phase"] == "init"
    assert s.receive()["type"] == "init_done"
    s.send(invoke("invoke-minimal", "bad-1", {}))
    error = s.receive()
    assert set(error) == {"type", "requestId", "error", "maxMemoryMB"}
    assert error["error"]["errorType"] == "ZeroDivisionError" and error["error"]["requestId"] == "bad-1"
    # The agent's own frames are left out: the trace starts in the handler.
    assert error["error"]["stackTrace"][0].startswith('  File "%s/lambda_function.py", line 2, in lambda_handler'
                                                      % s.tmp.joinpath("task"))


def test_an_import_error_fails_init_without_a_hint(supervisor):
    s = supervisor("import a_module_that_does_not_exist\n")
    assert s.receive()["type"] == "hello"
    message = s.receive()
    assert message == {"type": "init_error", "error": {
        "errorMessage": "Unable to import module 'lambda_function': No module named 'a_module_that_does_not_exist'",
        "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}}
    assert s.process.wait(timeout=10) == 1


def test_a_failing_before_snapshot_hook_exits_64(supervisor):
    s = supervisor("from snapshot_restore_py import register_before_snapshot\n"
                   "@register_before_snapshot\ndef broken():\n    raise RuntimeError('no')\n"
                   "def lambda_handler(event, context):\n    return 1\n")
    assert s.receive()["type"] == "hello"
    assert s.receive()["beforeSnapshotHooks"] == ["broken"]
    s.send(fixture("before_snapshot"))
    message = s.receive()
    assert message["type"] == "before_snapshot_error" and set(message) == {"type", "error"}
    assert (message["error"]["errorType"], message["error"]["errorMessage"]) == ("RuntimeError", "no")
    # The trace starts at the hooks runner, as on Lambda (there: awslambdaric's lambda_runtime_hooks_runner.py).
    assert message["error"]["stackTrace"][0].startswith('  File "%s/snapharness_ric.py"' % AGENT_FOLDER)
    assert s.process.wait(timeout=10) == 64
