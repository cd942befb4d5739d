"""Test fixture: Init fails because a dependency is not packaged."""
import requests_that_do_not_exist  # noqa: F401


def lambda_handler(event, context):
    return "unreachable"
