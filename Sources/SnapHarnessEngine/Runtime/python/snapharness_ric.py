"""What AWS's runtime client (awslambdaric 4.2.2) does around the handler, re-done for the snapharness agent.

- Results: marshalled with simplejson as awslambdaric's Encoder does (NaN/Infinity allowed, Decimal written with its own
  digits, a NaN Decimal as NaN, namedtuples as objects, bytes results passed through raw, `ensure_ascii` off only in
  the python3.12+ execution environments). Events: simplejson.loads of the raw body.
- The context object: LambdaContext with identity, client_context (W3C fields split off), tenant_id, log().
- Logging: stdout/stderr wrapped so every write is flushed; one handler on the root logger writing to stdout (the
  "standard" log sink awslambdaric uses when Lambda gives it no telemetry fd), text or JSON records,
  AWS_LAMBDA_LOG_LEVEL applied to the root logger, UTC timestamps; error records for failed invocations and Init.

The agent imports this module once at start, with the runtime library folder (.deps/python) first on sys.path, so
simplejson is the pinned copy `make deps` installs even when the function bundles its own.
"""
import decimal
import json
import logging
import math
import os
import sys
import time
import traceback

import simplejson
from simplejson.raw_json import RawJSON


class Fault(Exception):
    """awslambdaric's FaultException: an error whose type and message the runtime chooses."""

    def __init__(self, error_type, message, trace=None, hint=None):
        super().__init__(message)
        self.error_type, self.message, self.trace, self.hint = error_type, message, trace, hint


MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"


# --- results and events ------------------------------------------------------------------------------------------

# Execution environments in which awslambdaric writes non-ASCII characters unescaped.
UNESCAPED_ENVIRONMENTS = frozenset("AWS_Lambda_python3.%d" % minor for minor in (12, 13, 14, 15))


class ResultEncoder(simplejson.JSONEncoder):
    """awslambdaric's Encoder. Reads AWS_EXECUTION_ENV when created."""

    def __init__(self):
        options = {"use_decimal": False, "allow_nan": True}
        if os.environ.get("AWS_EXECUTION_ENV") in UNESCAPED_ENVIRONMENTS:
            options["ensure_ascii"] = False
        super().__init__(**options)

    def default(self, o):
        # simplejson's own Decimal support would write a NaN Decimal as "NaN" or "-NaN"; awslambdaric writes NaN.
        if isinstance(o, decimal.Decimal):
            return math.nan if o.is_nan() else RawJSON(str(o))
        return super().default(o)


def to_json(value):
    """awslambdaric's to_json (a fresh encoder each call): what it posts for errors and logs for JSON error records."""
    return ResultEncoder().encode(value)


class Marshaller:
    """awslambdaric's LambdaMarshaller. Its encoder is made once, when the runtime starts (before Init)."""

    def __init__(self):
        self.encoder = ResultEncoder()

    @staticmethod
    def unmarshal(body):
        try:
            return simplejson.loads(body)
        except Exception as e:
            raise Fault(UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(e))

    def marshal(self, response):
        """The payload as awslambdaric posts it: bytes unchanged (content type application/unknown), else JSON text."""
        if isinstance(response, bytes):
            return response
        try:
            return self.encoder.encode(response)
        except Exception as e:
            raise Fault(MARSHAL_ERROR, "Unable to marshal response: {}".format(e))


# --- errors ------------------------------------------------------------------------------------------------------

def make_error(message, error_type, trace, request_id=None):
    return {"errorMessage": message or "", "errorType": error_type or "",
            "requestId": request_id if request_id is not None else "", "stackTrace": trace or []}


def error_from_exception(exc_info, runtime_files, request_id=None):
    """The error object for an exception. Like awslambdaric, leading frames of the agent's main file are dropped
    (awslambdaric drops leading frames whose file name contains "/bootstrap.py"), and frames are formatted
    from (file, line, name, text) tuples, so Python 3.11+'s ^^^ markers never appear."""
    etype, value, tb = exc_info
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if frame[0] not in runtime_files and "/bootstrap.py" not in frame[0]:
            frames = frames[i:]
            break
    return make_error(str(value), etype.__name__, traceback.format_list(frames), request_id)


# --- snapshot hooks ----------------------------------------------------------------------------------------------
# As awslambdaric's lambda_runtime_hooks_runner runs them; a hook's stack trace starts with the frame that called it
# (on Lambda: awslambdaric/lambda_runtime_hooks_runner.py, here this file).

def run_before_snapshot():
    from snapshot_restore_py import get_before_snapshot
    hooks = get_before_snapshot()
    while hooks:  # reverse registration order: popped off the end
        func, args, kwargs = hooks.pop()
        func(*args, **kwargs)


def run_after_restore():
    from snapshot_restore_py import get_after_restore
    for func, args, kwargs in get_after_restore():
        func(*args, **kwargs)


# --- the context object ------------------------------------------------------------------------------------------

W3C_FIELDS = ("traceparent", "tracestate", "baggage")


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id={},cognito_identity_pool_id={}])".format(
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return ("Client([installation_id={},app_title={},app_version_name={},app_version_code={},"
                "app_package_name={}])").format(self.installation_id, self.app_title, self.app_version_name,
                                                self.app_version_code, self.app_package_name)


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "ClientContext([custom={},env={},client={}])".format(self.custom, self.env, self.client)


def _from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field, None))
    return obj


def _parse_header(text, name):
    try:
        return json.loads(text)
    except Exception as e:
        raise Fault(CONTEXT_UNMARSHAL_ERROR, "Unable to parse {} JSON: {}".format(name, e))


class LambdaContext(object):
    """The context object awslambdaric passes to the handler."""

    def __init__(self, request_id, client_context, cognito_identity, deadline_ms, invoked_function_arn=None,
                 tenant_id=None):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        # W3C trace context travels in the client context; it is taken out of it and offered by w3c() only.
        self._w3c_fields = {}
        if isinstance(client_context, dict) and "w3c" in client_context:
            w3c = client_context.pop("w3c")
            if isinstance(w3c, dict):
                self._w3c_fields = {k: w3c[k] for k in W3C_FIELDS if isinstance(w3c.get(k), str)}
        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(Client, self.client_context.client)
        self.identity = _from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self):
        return dict(self._w3c_fields)

    def log(self, msg):
        for handler in logging.getLogger().handlers:
            if hasattr(handler, "log_sink"):
                handler.log_sink.log(str(msg))
                return
        sys.stdout.write(str(msg))

    def __repr__(self):
        return ("LambdaContext([aws_request_id={0.aws_request_id},log_group_name={0.log_group_name},"
                "log_stream_name={0.log_stream_name},function_name={0.function_name},"
                "memory_limit_in_mb={0.memory_limit_in_mb},function_version={0.function_version},"
                "invoked_function_arn={0.invoked_function_arn},client_context={0.client_context},"
                "identity={0.identity},tenant_id={0.tenant_id}])").format(self)


def create_context(request_id, deadline_ms, invoked_function_arn, client_context_json=None,
                   cognito_identity_json=None, tenant_id=None):
    client_context = _parse_header(client_context_json, "Client Context") if client_context_json else None
    cognito_identity = _parse_header(cognito_identity_json, "Cognito Identity") if cognito_identity_json else None
    return LambdaContext(request_id, client_context, cognito_identity, deadline_ms, invoked_function_arn, tenant_id)


# --- logging -----------------------------------------------------------------------------------------------------

def _log_format_is_json(value):
    return bool(value) and value.upper() == "JSON"


def _log_level(value):
    # As awslambdaric reads it: unset -> "", exactly "TRACE" -> "DEBUG", anything else upper-cased (so "trace" becomes
    # "TRACE", which is no level and leaves the root logger alone).
    return {None: "", "TRACE": "DEBUG"}.get(value, value).upper()


# Read once at start, as awslambdaric reads them when it is imported.
LOG_JSON = _log_format_is_json(os.environ.get("AWS_LAMBDA_LOG_FORMAT"))
LOG_LEVEL = _log_level(os.environ.get("AWS_LAMBDA_LOG_LEVEL"))

TEXT_RECORD = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATE = "%Y-%m-%dT%H:%M:%S"
JSON_DATE = "%Y-%m-%dT%H:%M:%SZ"
ERROR_LINE_SEPARATOR = "\r"    # multi-line error records on stdout: lines joined with CR, one LF at the end
ERROR_INDENT = "\u00a0"        # leading spaces of traceback lines become NO-BREAK SPACEs in text error records

# Attributes of a LogRecord that JSON records do not copy as extra fields.
RESERVED_RECORD_FIELDS = frozenset((
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "_frame_type"))

# Frame types of Lambda's telemetry log framing; only recorded on the record (`_frame_type`), as awslambdaric does.
JSON_FRAME_TYPES = {level: code.to_bytes(4, "big") for level, code in (
    (0, 0xA55A0002), (10, 0xA55A000A), (20, 0xA55A000E), (30, 0xA55A0012), (40, 0xA55A0016), (50, 0xA55A001A))}

# JSON records: the standard library's encoder, non-ASCII kept, anything unserialisable written as str().
_record_encoder = json.JSONEncoder(ensure_ascii=False, default=str)

# The request (and tenant) of the current invocation, stamped on every record; kept after the invocation ends.
_request_id = None
_tenant_id = None


def begin_invocation(request_id, tenant_id):
    global _request_id, _tenant_id
    _request_id, _tenant_id = request_id, tenant_id


class Unbuffered(object):
    """awslambdaric's stdout/stderr wrapper: every write is flushed; everything else goes to the wrapped stream."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        self.stream.write(msg)
        self.stream.flush()

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


class StandardLogSink(object):
    """Where awslambdaric's records go when Lambda gives it no telemetry fd: sys.stdout, as they are."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def log(self, msg, frame_type=None):
        sys.stdout.write(msg)

    def log_error(self, message_lines):
        sys.stdout.write(ERROR_LINE_SEPARATOR.join(message_lines) + "\n")


LOG_SINK = StandardLogSink()


class LambdaLoggerHandler(logging.Handler):
    def __init__(self, log_sink):
        logging.Handler.__init__(self)
        self.log_sink = log_sink

    def emit(self, record):
        self.log_sink.log(self.format(record))


class LambdaLoggerHandlerWithFrameType(LambdaLoggerHandler):
    """The handler awslambdaric installs for JSON logs or a log level; the frame type only matters on a telemetry fd."""


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id or ""
        record.tenant_id = _tenant_id
        return True


def _level_bucket(record):
    return min(50, max(0, record.levelno)) // 10 * 10


class JsonFormatter(logging.Formatter):
    """awslambdaric's JSON records: timestamp (seconds, UTC), level, message (a dict message stays an object), logger,
    error fields when the record carries an exception, requestId, tenantId, then the record's extra attributes;
    fields that are None are left out."""

    def __init__(self):
        super().__init__(datefmt=JSON_DATE)

    def format(self, record):
        record.levelno = _level_bucket(record)
        record.levelname = logging.getLevelName(record.levelno)
        record._frame_type = JSON_FRAME_TYPES.get(record.levelno, JSON_FRAME_TYPES[0])
        exc_info = record.exc_info
        fields = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": "{}:{}:{}".format(record.pathname, record.funcName, record.lineno) if record.exc_info else None,
        }
        if getattr(record, "tenant_id", None) is not None:
            fields["tenantId"] = record.tenant_id
        for key, value in record.__dict__.items():
            if key not in RESERVED_RECORD_FIELDS and key not in fields:
                fields[key] = value
        return _record_encoder.encode({k: v for k, v in fields.items() if v is not None}) + "\n"


def setup_output():
    """What awslambdaric does before Init: flush-on-write stdout/stderr, UTC log times, the root logger's handler."""
    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    handler = (LambdaLoggerHandlerWithFrameType if LOG_JSON or LOG_LEVEL else LambdaLoggerHandler)(LOG_SINK)
    handler.setFormatter(JsonFormatter() if LOG_JSON else logging.Formatter(TEXT_RECORD, TEXT_DATE))
    if LOG_LEVEL in logging._nameToLevel:
        root.setLevel(LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)


def _indent_with_nbsp(line):
    stripped = line.lstrip(" ")
    return ERROR_INDENT * (len(line) - len(stripped)) + stripped


def log_error(error):
    """The record awslambdaric writes for a failed Init, hook or invocation (not subject to the log level)."""
    if LOG_JSON:
        stamp = time.strftime(JSON_DATE, logging.Formatter.converter(time.time()))
        LOG_SINK.log_error([to_json(dict({"timestamp": stamp, "level": "ERROR"}, **error))])
        return
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            head += ":"
        head += " " + error["errorMessage"]
    lines = [head]
    trace = error.get("stackTrace")
    if trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            if element == "":
                lines.append("")
            else:
                lines.extend(_indent_with_nbsp(line) for line in element.splitlines())
    LOG_SINK.log_error(lines)


LAMBDA_WARNING = "LAMBDA_WARNING"
UNHANDLED_EXCEPTION_WARNING = (
    LAMBDA_WARNING + ": Unhandled exception. The most likely cause is an issue in the function code. However, in rare "
    "cases, a Lambda runtime update can cause unexpected function behavior. For functions using managed runtimes, "
    "runtime updates can be triggered by a function change, or can be applied automatically. To determine if the "
    "runtime has been updated, check the runtime version in the INIT_START log entry. If this error correlates with a "
    "change in the runtime version, you may be able to mitigate this error by temporarily rolling back to the previous "
    "runtime version. For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r")
PREVIEW_ENVIRONMENTS = frozenset(["AWS_Lambda_python3.15"])


def warn_if_preview_runtime():
    if os.environ.get("LAMBDA_DISABLE_PREVIEW_WARN", ""):
        return
    if os.environ.get("AWS_EXECUTION_ENV", "") not in PREVIEW_ENVIRONMENTS:
        return
    china = os.environ.get("AWS_REGION", "").startswith("cn-")
    link = "https://docs.{}/lambda/latest/dg/lambda-runtimes.html".format("amazonaws.cn" if china else "aws.amazon.com")
    logging.warning(LAMBDA_WARNING + ": This is a preview runtime version and should not be used for production "
                    "workloads. For further information and to provide feedback, see " + link + "\r")
