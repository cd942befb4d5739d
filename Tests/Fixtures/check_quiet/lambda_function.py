"""Test fixture: state `check` must not report. A list built from a set is ordered by the hash seed (different in
every process, but not made at Init by anything random), and the X-Ray SDK's 0-byte marker in /tmp means the same
thing in every copy."""
import os

NA_VALUES = list({"-1.#IND", "1.#QNAN", "1.#IND", "-1.#QNAN", "#N/A N/A", "#N/A", "N/A", "NA", "#NA", "NULL",
                  "NaN", "-NaN", "nan", "-nan"} | {"%040x" % (i * 7919 + 1) for i in range(30)})  # constants, token-like
os.makedirs("/tmp/.aws-xray", exist_ok=True)
open("/tmp/.aws-xray/initialized", "w").close()


def lambda_handler(event, context):
    return {"na": len(NA_VALUES)}
