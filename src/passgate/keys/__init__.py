"""Signing keys: generation, rotation shared by replicas, verification-key retention, JWKS."""

from passgate.keys.manager import InvalidSignatureError, KeyManager
from passgate.keys.rotation import SUPPORTED_ALGORITHMS

__all__ = ["SUPPORTED_ALGORITHMS", "InvalidSignatureError", "KeyManager"]
