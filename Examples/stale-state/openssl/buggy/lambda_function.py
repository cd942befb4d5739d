"""OpenSSL's generator used during Init (as any TLS handshake at Init uses it): every copy draws the same bytes."""
import ssl

# Init draws from OpenSSL (a warm-up, a TLS connection to fetch configuration, a key made with `cryptography`...).
ssl.RAND_bytes(16)


def lambda_handler(event, context):
    return {"nonce": ssl.RAND_bytes(8).hex()}   # the same in every restored copy
