"""Test client for `snapharness serve`: boto3's real `lambda` client pointed at the local endpoint.

    python3 invoke.py ENDPOINT FUNCTION SCENARIO     (prints one JSON object)
"""
import base64
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

endpoint, name, scenario = sys.argv[1:4]
client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                      aws_secret_access_key="local", config=Config(retries={"max_attempts": 0}, read_timeout=120))


def call(payload, **extra):
    try:
        r = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **extra)
    except client.exceptions.TooManyRequestsException:
        return {"throttled": True}
    body = r["Payload"].read()
    out = {"status": r["StatusCode"], "functionError": r.get("FunctionError"),
           "version": r.get("ExecutedVersion"), "payload": json.loads(body) if body else None}
    if "LogResult" in r:
        out["log"] = base64.b64decode(r["LogResult"]).decode()
    return out


results = {}
if scenario == "lifecycle":
    results["plain"] = call({"n": 1})
    with ThreadPoolExecutor(4) as pool:
        results["concurrent"] = list(pool.map(lambda i: call({"sleep": 1.5, "i": i}), range(4)))
    results["sequential"] = [call({"i": i}) for i in range(3)]
    results["error"] = call({"raise": "boom"})
    results["tail"] = call({}, LogType="Tail")
    context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    results["clientContext"] = call({}, ClientContext=context)
    results["event"] = client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"]
    results["dryrun"] = client.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")["StatusCode"]
    try:
        client.invoke(FunctionName="no-such-function", Payload=b"{}")
    except client.exceptions.ResourceNotFoundException:
        results["missing"] = "ResourceNotFoundException"
    try:
        client.invoke(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    except client.exceptions.RequestTooLargeException:
        results["tooLarge"] = "RequestTooLargeException"
elif scenario == "throttle":
    with ThreadPoolExecutor(3) as pool:
        results["calls"] = list(pool.map(lambda i: call({"sleep": 2, "i": i}), range(3)))
print(json.dumps(results))
