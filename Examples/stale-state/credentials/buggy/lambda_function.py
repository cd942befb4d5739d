"""Credentials fetched during Init (as an SDK client created at module level would) and cached forever."""
import datetime
import json
import os
import urllib.request


def fetch_credentials():
    # What botocore's container provider does: GET the full URI with the authorization token.
    request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                                     headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


CREDS = fetch_credentials()     # frozen into the snapshot


def expired(creds):
    expiration = datetime.datetime.fromisoformat(creds["Expiration"].replace("Z", "+00:00"))
    return expiration <= datetime.datetime.now(datetime.timezone.utc)


def lambda_handler(event, context):
    return {"access_key_id": CREDS["AccessKeyId"], "expired": expired(CREDS)}
