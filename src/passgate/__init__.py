"""Passgate: a federated OpenID Connect identity provider (Dex-compatible)."""

__version__ = "0.1.0"
