"""Benchmark handler: boto3 imported and an S3 client created at Init, the classic SnapStart win.

boto3 is bundled in this folder, as in a Lambda deployment package: `make bench` runs
`pip install --target Examples/bench/boto3 boto3` (the installed packages are git-ignored). Creating a client
needs no network and no credentials; the handler only reads the client's configuration.
"""
import boto3

S3 = boto3.client("s3", region_name="us-east-1")


def lambda_handler(event, context):
    return {"service": S3.meta.service_model.service_name, "region": S3.meta.region_name}
