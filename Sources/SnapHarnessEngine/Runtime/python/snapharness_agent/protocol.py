"""The control protocol's messages (docs/control-protocol.md), defined once for the built-in agent and the Runtime
API server: the version, the output marks, one constructor per agent -> supervisor message and the reading of
supervisor -> agent messages. The Swift side is Sources/SnapHarnessProtocol/; both are held to
the golden files in Tests/Fixtures/protocol/ (written from these constructors by Tests/python/write_fixtures.py).

A constructor returns the message as a dict, its keys in the order they go on the wire; optional fields that are None
are left out."""
import base64
import collections

VERSION = 1

# End of an invocation's output: this, the request id and a newline, on fd 1 and fd 2 (the supervisor strips it).
END_MARK = b"\x1esnapharness:end:"
# What snapharness-init (Runtime/init/snapharness_init.c) writes when the runtime was killed by a signal: this, the
# signal's number and a newline. Defined here for the fixtures; no Python code writes it.
EXIT_SIGNAL_MARK = b"\x1esnapharness:exit:signal:"


def end_mark(request_id):
    """The end-of-invocation line for `request_id` (any text the supervisor sent, lone surrogates included)."""
    return END_MARK + request_id.encode("utf-8", "surrogatepass") + b"\n"


# --- agent -> supervisor -------------------------------------------------------------------------------------------

def hello(phase, pid):
    """Right after connecting: `phase` is "init" or "restore"."""
    return {"type": "hello", "protocol": VERSION, "phase": phase, "pid": pid}


def init_done(before_snapshot_hooks=None, after_restore_hooks=None, parked_in=None, extensions=None):
    """The handler module is imported. Hook names as far as the runtime knows them; `parked_in` ("restore" or "next"):
    the Runtime API request that ended Init, from the API server only; `extensions`: each registered extension
    (extensions.Host.summary), when the function has any."""
    message = {"type": "init_done"}
    if before_snapshot_hooks is not None:
        message["beforeSnapshotHooks"] = before_snapshot_hooks
    if after_restore_hooks is not None:
        message["afterRestoreHooks"] = after_restore_hooks
    if parked_in is not None:
        message["parkedIn"] = parked_in
    if extensions is not None:
        message["extensions"] = extensions
    return message


def _failure(kind, error, hint):
    message = {"type": kind, "error": error}
    if hint is not None:
        message["hint"] = hint
    return message


def init_error(error, hint=None):
    """Init failed (`error`: a Lambda error object); the agent exits 1."""
    return _failure("init_error", error, hint)


def snapshot_ready():
    """The before-snapshot hooks ran; the agent closes the channel and parks."""
    return {"type": "snapshot_ready"}


def before_snapshot_error(error, hint=None):
    """A before-snapshot hook raised; the agent exits 64."""
    return _failure("before_snapshot_error", error, hint)


def restored():
    """The after-restore hooks ran."""
    return {"type": "restored"}


def after_restore_error(error, hint=None):
    """An after-restore hook raised; the agent exits 65."""
    return _failure("after_restore_error", error, hint)


def result(request_id, payload, max_memory_mb=None):
    """The handler's result: text goes as `payload`, bytes (a raw result) as `payloadBase64`."""
    message = {"type": "result", "requestId": request_id}
    if isinstance(payload, bytes):
        message["payloadBase64"] = base64.b64encode(payload).decode()
    else:
        message["payload"] = payload
    if max_memory_mb is not None:
        message["maxMemoryMB"] = max_memory_mb
    return message


def error(request_id, error, max_memory_mb=None):
    """The invocation failed: `error` is a Lambda error object."""
    message = {"type": "error", "requestId": request_id, "error": error}
    if max_memory_mb is not None:
        message["maxMemoryMB"] = max_memory_mb
    return message


def facts(fields):
    """The answer to `inspect`: the inspector's facts (snapharness_agent/inspector.py's gather) with the type."""
    message = dict(fields)
    message["type"] = "facts"
    return message


# --- supervisor -> agent -------------------------------------------------------------------------------------------

BEFORE_SNAPSHOT = "before_snapshot"
AFTER_RESTORE = "after_restore"
INVOKE = "invoke"
INSPECT = "inspect"
SHUTDOWN = "shutdown"
SUPERVISOR_TYPES = frozenset((BEFORE_SNAPSHOT, AFTER_RESTORE, INVOKE, INSPECT, SHUTDOWN))


class ProtocolError(ValueError):
    """A supervisor message that lacks a field it must have, or has one of the wrong kind."""


def message_type(message):
    """The type of what Channel.receive() returned: None when the supervisor hung up (or sent something that is not
    an object); callers treat a type they do not expect as the end of the environment."""
    return message.get("type") if isinstance(message, dict) else None


def restore_environment(message):
    """`after_restore`'s variables to set before the hooks run (none: {})."""
    environment = message.get("environment") or {}
    if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environment.items()):
        raise ProtocolError("after_restore: environment must map names to strings")
    return environment


# One invocation. Optional fields that were absent or empty are None (as for Lambda's headers, empty means "none"),
# except invoked_function_arn, which is passed on as sent.
Invocation = collections.namedtuple("Invocation", (
    "request_id", "event", "deadline_ms", "invoked_function_arn", "trace_id", "client_context", "cognito_identity",
    "tenant_id"))


def _field(message, key, kind, required):
    value = message.get(key)
    if value is None:
        if required:
            raise ProtocolError("invoke: missing %s" % key)
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolError("invoke: %s must be %s" % (key, kind.__name__))
    return value


def invocation(message):
    """`invoke` read into an Invocation; ProtocolError if a required field is missing or of the wrong kind."""
    return Invocation(
        request_id=_field(message, "requestId", str, True),
        event=_field(message, "event", str, True),
        deadline_ms=_field(message, "deadlineMs", int, True),
        invoked_function_arn=_field(message, "invokedFunctionArn", str, False),
        trace_id=_field(message, "traceId", str, False) or None,
        client_context=_field(message, "clientContext", str, False) or None,
        cognito_identity=_field(message, "cognitoIdentity", str, False) or None,
        tenant_id=_field(message, "tenantId", str, False) or None,
    )
