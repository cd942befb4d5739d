"""A stand-in for an older boto3 bundled in a function's folder: the function's copy wins over the runtime's."""
__version__ = "1.0.0-bundled"
