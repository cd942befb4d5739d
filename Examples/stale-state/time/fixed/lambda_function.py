"""The token's expiry is computed when the token is obtained, after restore, and renewed when it runs out."""
import os
import time

from snapshot_restore_py import register_after_restore

TTL = float(os.environ.get("TOKEN_TTL", "60"))
TOKEN_EXPIRES = None


@register_after_restore
def renew_token():
    global TOKEN_EXPIRES
    TOKEN_EXPIRES = time.time() + TTL


def lambda_handler(event, context):
    global TOKEN_EXPIRES
    if TOKEN_EXPIRES is None or time.time() >= TOKEN_EXPIRES:
        renew_token()
    return {"token_valid": time.time() < TOKEN_EXPIRES, "seconds_left": round(TOKEN_EXPIRES - time.time(), 3)}
