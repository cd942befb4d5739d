"""Credentials fetched when needed and refreshed after each restore, as SDK clients do when created per use."""
import datetime
import json
import os
import urllib.request

from snapshot_restore_py import register_after_restore, register_before_snapshot

CREDS = None


def fetch_credentials():
    request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                                     headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def expired(creds):
    expiration = datetime.datetime.fromisoformat(creds["Expiration"].replace("Z", "+00:00"))
    return expiration <= datetime.datetime.now(datetime.timezone.utc)


@register_before_snapshot
def forget_credentials():
    global CREDS
    CREDS = None


@register_after_restore
def refresh_credentials():
    global CREDS
    CREDS = fetch_credentials()     # this environment's rotated credentials


def lambda_handler(event, context):
    global CREDS
    if CREDS is None or expired(CREDS):
        CREDS = fetch_credentials()
    return {"access_key_id": CREDS["AccessKeyId"], "expired": expired(CREDS)}
