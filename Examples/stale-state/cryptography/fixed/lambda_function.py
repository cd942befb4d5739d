"""Fresh kernel entropy is mixed into OpenSSL's generator after every restore, which makes it reseed."""
import hashlib
import os

from cryptography.hazmat.bindings.openssl.binding import Binding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from snapshot_restore_py import register_after_restore

SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())


@register_after_restore
def reseed_openssl():
    Binding.lib.RAND_add(os.urandom(32), 32, 32.0)


def fingerprint(key):
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    return hashlib.sha256(raw).hexdigest()[:16]


def lambda_handler(event, context):
    session_key = ec.generate_private_key(ec.SECP256R1())
    return {"session_key": fingerprint(session_key)}
