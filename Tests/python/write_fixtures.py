"""Writes the control protocol's golden files, Tests/Fixtures/protocol/:

- constants.json: the protocol version and the output marks, from snapharness_agent/protocol.py;
- agent/<name>.json: each agent -> supervisor message (and each variant whose shape differs), built by protocol.py's
  constructors from realistic values;
- supervisor/<name>.json: each supervisor -> agent message as Swift's SupervisorMessage encodes it
  (Sources/SnapHarnessProtocol/; written here from literal values, key order irrelevant).

Each message file holds exactly one line of the channel: the compact JSON object and its terminating newline, as
Channel.send writes it. Tests/python/test_protocol.py fails when the files and this script (or the constructors)
disagree; after changing a message on purpose, run `python3 Tests/python/write_fixtures.py` and commit the result.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT_FOLDER = os.path.join(ROOT, "Sources", "SnapHarnessEngine", "Runtime", "python")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "protocol")

sys.dont_write_bytecode = True  # no __pycache__ in the agent's folder, which is bound into every environment
if AGENT_FOLDER not in sys.path:
    sys.path.insert(0, AGENT_FOLDER)

from snapharness_agent import protocol  # noqa: E402

REQUEST_ID = "8f3c2b1a-6d4e-4f5a-9b8c-7d6e5f4a3b2c"
TRACE_ID = "Root=1-6751c3a0-4b2e8f1d9c7a6e5d4c3b2a19;Parent=3f9a2c1e8b7d6a54;Sampled=0;Lineage=1:5d2f8c3a:0"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:hello"


def lambda_error(message, error_type, request_id="", stack_trace=()):
    """Lambda's error object as snapharness_ric.make_error builds it."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": list(stack_trace)}


HOOK_TRACE = [
    '  File "/var/runtime/snapharness/snapharness_ric.py", line 119, in run_before_snapshot\n    func(*args, **kwargs)\n',
    '  File "/var/task/lambda_function.py", line 8, in close_pool\n    pool.close()\n',
]
HANDLER_TRACE = [
    '  File "/var/task/lambda_function.py", line 14, in lambda_handler\n    return ratio(event)\n',
    '  File "/var/task/lambda_function.py", line 9, in ratio\n    return event["a"] / event["b"]\n',
]

FACTS = {
    "values": [
        {"path": "lambda_function.INSTANCE_ID", "kind": "uuid", "digest": "5e0f1c2d3b4a6978",
         "preview": "3b1f5c2e..."},
        {"path": "lambda_function.STARTED", "kind": "timestamp", "digest": "a1b2c3d4e5f60718",
         "preview": "1733400000.125 (epoch seconds)"},
    ],
    "cachedCredentials": ["lambda_function.session._credentials"],
    "environmentCredentials": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"],
    "hooks": {"pendingBeforeSnapshot": [], "afterRestore": ["refresh_identity"],
              "unimported": [{"module": "jobs.warmup", "file": "/var/task/jobs/warmup.py"}]},
    "clients": ["urllib3"],
    "connections": [],
    "openssl": {"ssl": "0c9d8e7f6a5b4c3d"},
    "sslUsed": False,
    "randomState": "81faa989bd685c12",
    "randomUsed": True,
    "randomDrawn": True,
    "randomDrawers": [],
}


def agent_messages():
    """(file name without .json, message) for every agent -> supervisor message and shape."""
    return [
        ("hello", protocol.hello("init", 2)),
        ("hello-restore", protocol.hello("restore", 2)),
        # The built-in runtime: the hooks it found.
        ("init_done", protocol.init_done(before_snapshot_hooks=["warm_cache", "close_resources"],
                                         after_restore_hooks=["refresh_identity", "log_gap"])),
        # The Runtime API server: the request that ended Init, and the after-restore hooks when checking.
        ("init_done-parkedIn", protocol.init_done(after_restore_hooks=["refresh_identity"], parked_in="restore")),
        # The Runtime API server when awslambdaric reported a before-snapshot hook's failure as an Init error.
        ("init_done-bare", protocol.init_done()),
        ("init_done-extensions", protocol.init_done(
            extensions=[{"name": "telemetry-agent", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"],
                         "external": True, "registeredMs": 12.5, "readyMs": 130.25,
                         "telemetry": ["platform", "function"]},
                        {"name": "in-process", "state": "Ready", "events": ["INVOKE"], "external": False,
                         "registeredMs": 80.0, "readyMs": 131.0}])),
        ("init_error", protocol.init_error(lambda_error(
            "Unable to import module 'lambda_function': No module named 'requests'", "Runtime.ImportModuleError"))),
        ("init_error-hint", protocol.init_error(
            {"errorMessage": "Couldn't start the runtime (bootstrap): [Errno 13] Permission denied: "
                             "'/var/task/bootstrap'", "errorType": "Runtime.InvalidEntrypoint", "stackTrace": []},
            hint="a custom runtime needs an executable file named bootstrap in the function's folder "
                 "(chmod +x bootstrap)")),
        ("snapshot_ready", protocol.snapshot_ready()),
        ("before_snapshot_error", protocol.before_snapshot_error(lambda_error(
            "pool already closed", "RuntimeError", stack_trace=HOOK_TRACE))),
        ("restored", protocol.restored()),
        ("after_restore_error", protocol.after_restore_error(lambda_error(
            "token endpoint unreachable", "ConnectionError", stack_trace=[
                HOOK_TRACE[0].replace("line 119, in run_before_snapshot", "line 125, in run_after_restore")]))),
        ("result", protocol.result(REQUEST_ID, '{"message": "Hello, world!", "count": 1}', max_memory_mb=42)),
        ("result-payloadBase64", protocol.result(REQUEST_ID, b"\x89PNG\r\n\x1a\n", max_memory_mb=42)),
        ("error", protocol.error(REQUEST_ID, lambda_error(
            "division by zero", "ZeroDivisionError", REQUEST_ID, HANDLER_TRACE), max_memory_mb=42)),
        ("facts", protocol.facts(FACTS)),
    ]


def supervisor_messages():
    """(file name without .json, message) as Swift's SupervisorMessage encodes each case (nil optionals left out)."""
    return [
        ("before_snapshot", {"type": "before_snapshot"}),
        ("after_restore", {"type": "after_restore", "environment": {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.100.1:41377/2021-04-23/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "3c9f6e0b2d8a4f71b5e6c2a9d0f3b8e4"}}),
        ("after_restore-noEnvironment", {"type": "after_restore"}),
        ("invoke", {"type": "invoke", "requestId": REQUEST_ID, "event": '{"name": "world", "items": [1, 2, 3]}',
                    "deadlineMs": 1733400003125, "invokedFunctionArn": ARN, "traceId": TRACE_ID,
                    "clientContext": '{"custom": {"tenant": "blue"}, "env": {"locale": "en-US"}, '
                                     '"client": {"installation_id": "i-1", "app_title": "shop"}}'}),
        ("invoke-minimal", {"type": "invoke", "requestId": REQUEST_ID, "event": "{}", "deadlineMs": 1733400003125,
                            "invokedFunctionArn": ARN}),
        ("inspect", {"type": "inspect"}),
        ("shutdown", {"type": "shutdown"}),
    ]


def constants():
    return {"version": protocol.VERSION, "endMark": protocol.END_MARK.decode(),
            "exitSignalMark": protocol.EXIT_SIGNAL_MARK.decode()}


def line(message):
    """One line of the channel, as Channel.send frames it."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def files():
    """{path relative to FIXTURES: bytes} of every golden file."""
    out = {"constants.json": json.dumps(constants()).encode() + b"\n"}
    for name, message in agent_messages():
        out["agent/%s.json" % name] = line(message)
    for name, message in supervisor_messages():
        out["supervisor/%s.json" % name] = line(message)
    return out


def main():
    for relative, data in sorted(files().items()):
        path = os.path.join(FIXTURES, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        print(os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
