"""Benchmark handler: the smallest possible function. Cold start and restore measure the runtime itself."""


def lambda_handler(event, context):
    return {"ok": True}
