"""A key made with `cryptography` during Init seeds the generator of the OpenSSL its wheel bundles: every restored
copy then makes the same "fresh" keys."""
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())  # Init: OpenSSL's generator is seeded here


def fingerprint(key):
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    return hashlib.sha256(raw).hexdigest()[:16]


def lambda_handler(event, context):
    session_key = ec.generate_private_key(ec.SECP256R1())  # the same key in every copy
    return {"session_key": fingerprint(session_key)}
