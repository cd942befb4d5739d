"""Test fixture: returns a value chosen by the event's "mode" key, for checking result marshalling against awslambdaric.

"bigint" -> 2**53 + 1 (9007199254740993, exact), "nan" -> float("nan") (NaN), "inf" -> float("inf") (Infinity),
"huge" -> 10**400 (all 401 digits), "decimal" -> Decimal("1.10") (1.10), "decimal_nan" -> Decimal("NaN") (NaN),
"bytes" -> b"raw" (posted raw: payloadBase64 "cmF3"), "namedtuple" -> Point(x=1, y=2) ({"x": 1, "y": 2}),
"unicode" -> "h\u00e9llo \u2603" (escaped unless AWS_EXECUTION_ENV is AWS_Lambda_python3.12+),
"unserialisable" -> object() (Runtime.MarshalError), "big" -> a string of event["bytes"] "x"s,
"trace" -> {"trace": os.environ.get("_X_AMZN_TRACE_ID")}; anything else (or a non-object event) -> the event itself.
"""
import collections
import decimal
import os

Point = collections.namedtuple("Point", "x y")

VALUES = {
    "bigint": lambda: 2 ** 53 + 1,
    "nan": lambda: float("nan"),
    "inf": lambda: float("inf"),
    "huge": lambda: 10 ** 400,
    "decimal": lambda: decimal.Decimal("1.10"),
    "decimal_nan": lambda: decimal.Decimal("NaN"),
    "bytes": lambda: b"raw",
    "namedtuple": lambda: Point(1, 2),
    "unicode": lambda: "h\u00e9llo \u2603",
    "unserialisable": lambda: object(),
}


def handler(event, context):
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode == "big":
        return "x" * int(event["bytes"])
    if mode == "trace":
        return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
    make = VALUES.get(mode) if isinstance(mode, str) else None
    return make() if make else event
