"""Test fixture: a syntax error in the handler module."""
def lambda_handler(event, context)
    return "missing colon"
