"""The client is created again after each restore, from a new session, with the environment's rotated credentials."""
import boto3
from snapshot_restore_py import register_after_restore

S3 = boto3.client("s3")  # fine during Init (it warms up imports and endpoints)...


@register_after_restore
def new_client():
    global S3
    # ...as long as every restored environment makes its own. Not `boto3.client` again: the default session keeps
    # the credentials it resolved during Init and would hand them to the new client.
    S3 = boto3.session.Session().client("s3")


def lambda_handler(event, context):
    signing = S3._request_signer._credentials.get_frozen_credentials()
    return {"access_key_id": signing.access_key}
