"""OpenSSL's generator gets fresh kernel entropy in every restored copy."""
import os
import ssl

from snapshot_restore_py import register_after_restore

ssl.RAND_bytes(16)


@register_after_restore
def reseed_openssl():
    # Mixing entropy in makes OpenSSL reseed. For the OpenSSL that `cryptography` bundles:
    # from cryptography.hazmat.bindings.openssl.binding import Binding; Binding.lib.RAND_add(os.urandom(32), 32, 32.0)
    ssl.RAND_add(os.urandom(32), 32.0)


def lambda_handler(event, context):
    return {"nonce": ssl.RAND_bytes(8).hex()}
