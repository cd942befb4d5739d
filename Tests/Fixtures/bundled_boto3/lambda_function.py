"""Test fixture: reports which boto3 it imported (a bundled copy in this folder must win over the runtime's)."""
import boto3


def handler(event, context):
    return {"version": boto3.__version__, "file": boto3.__file__}
