"""A token whose expiry is computed from the clock during Init: stale in copies restored later."""
import os
import time

TTL = float(os.environ.get("TOKEN_TTL", "60"))
TOKEN_EXPIRES = time.time() + TTL      # computed once, during Init


def lambda_handler(event, context):
    return {"token_valid": time.time() < TOKEN_EXPIRES, "seconds_left": round(TOKEN_EXPIRES - time.time(), 3)}
