"""ID, access and refresh tokens: claims, hashes, lifetimes, signing and verification."""

from passgate.tokens.issuer import AccessToken, TokenIssuer, VerifiedToken

__all__ = ["AccessToken", "TokenIssuer", "VerifiedToken"]
