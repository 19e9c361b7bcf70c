"""Minting and checking Passgate's JWTs: ID tokens (OIDC Core §2) and access tokens.

Access tokens are JWTs with the ID token's claims, as Dex issues them, plus a random
``jti`` (so one token can be revoked) and the granted ``scope`` (RFC 9068 §2.2.3). Access
tokens live exactly as long as ID tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from joserfc import errors as jose_errors
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry

from passgate.clock import Clock
from passgate.keys import InvalidSignatureError, KeyManager
from passgate.oauth2.errors import InvalidTokenError
from passgate.storage.models import Claims
from passgate.tokens.claims import audience_claim, identity_claims
from passgate.tokens.hashes import token_hash
from passgate.tokens.subject import encode_subject


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A signed access token; ``expiry`` equals its ``exp`` claim."""

    token: str
    expiry: datetime
    jti: str


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature, ``iss`` and ``exp`` have been checked."""

    claims: dict[str, object]
    subject: str
    expiry: datetime
    jti: str = ""
    scopes: tuple[str, ...] = ()
    client_id: str = ""
    audience: tuple[str, ...] = field(default_factory=tuple)
    session_id: str = ""  # ``sid``: the sign-in session the token was minted under
    issued_at: datetime | None = None  # ``iat``


class _ClaimsRegistry(JWTClaimsRegistry):
    def validate_iat(self, value: object) -> None:
        # RFC 7519 §4.1.6 asks only for a number. joserfc would also refuse an ``iat`` in
        # the future, which a replica whose clock runs a second ahead would produce.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise jose_errors.InvalidClaimError("iat")


class TokenIssuer:
    """Signs ID and access tokens for one issuer URL and verifies them back."""

    def __init__(
        self, issuer: str, keys: KeyManager, clock: Clock, id_token_lifetime: timedelta
    ) -> None:
        if id_token_lifetime <= timedelta(0):
            raise ValueError("id_token_lifetime must be positive")
        self._issuer = issuer
        self._keys = keys
        self._clock = clock
        self._lifetime = id_token_lifetime

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def id_token_lifetime(self) -> timedelta:
        return self._lifetime

    def _common(
        self,
        *,
        claims: Claims,
        client_id: str,
        audience: Sequence[str],
        scopes: Sequence[str],
        connector_id: str,
        nonce: str,
        session_id: str,
    ) -> tuple[dict[str, object], datetime]:
        now = self._clock()
        # JWT NumericDates are whole seconds; the returned expiry is exactly ``exp``.
        exp = int((now + self._lifetime).timestamp())
        out: dict[str, object] = {
            "iss": self._issuer,  # byte-identical to discovery (OIDC Discovery §4.3)
            "sub": encode_subject(claims.user_id, connector_id),
            "aud": audience_claim(audience),
            "exp": exp,
            "iat": int(now.timestamp()),
            "azp": client_id,  # OIDC Core §2
        }
        if nonce:
            out["nonce"] = nonce  # OIDC Core §3.1.2.1
        if session_id:
            # OIDC Front-Channel Logout §3 / Back-Channel Logout §2.4: the session id.
            out["sid"] = session_id
        out.update(identity_claims(claims, scopes, connector_id))
        return out, datetime.fromtimestamp(exp, UTC)

    def claims_of_token(
        self,
        *,
        claims: Claims,
        client_id: str,
        audience: Sequence[str],
        scopes: Sequence[str],
        connector_id: str,
        session_id: str = "",
    ) -> dict[str, object]:
        """The claims an ID token minted now would carry, unsigned and without the
        per-token hashes: what the account page shows a person each client learns."""
        payload, _ = self._common(
            claims=claims,
            client_id=client_id,
            audience=audience,
            scopes=scopes,
            connector_id=connector_id,
            nonce="",
            session_id=session_id,
        )
        return payload

    async def id_token(
        self,
        *,
        claims: Claims,
        client_id: str,
        audience: Sequence[str],
        scopes: Sequence[str],
        connector_id: str,
        nonce: str = "",
        access_token: str | None = None,
        code: str | None = None,
        auth_time: datetime | None = None,
        session_id: str = "",
    ) -> tuple[str, datetime]:
        """A signed ID token and its expiry."""
        payload, expiry = self._common(
            claims=claims,
            client_id=client_id,
            audience=audience,
            scopes=scopes,
            connector_id=connector_id,
            nonce=nonce,
            session_id=session_id,
        )
        if auth_time is not None:
            payload["auth_time"] = int(auth_time.timestamp())  # OIDC Core §2
        # Every algorithm KeyManager signs with hashes with SHA-256, so a rotation between
        # here and sign() cannot change which hash applies.
        algorithm = self._keys.algorithm
        if access_token:
            payload["at_hash"] = token_hash(access_token, algorithm)  # OIDC Core §3.1.3.6
        if code:
            payload["c_hash"] = token_hash(code, algorithm)  # OIDC Core §3.3.2.11
        return await self._keys.sign(payload), expiry

    async def access_token(
        self,
        *,
        claims: Claims,
        client_id: str,
        audience: Sequence[str],
        scopes: Sequence[str],
        connector_id: str,
        nonce: str = "",
        jti: str | None = None,
        session_id: str = "",
    ) -> AccessToken:
        """A signed JWT access token; ``jti`` is random unless given."""
        payload, expiry = self._common(
            claims=claims,
            client_id=client_id,
            audience=audience,
            scopes=scopes,
            connector_id=connector_id,
            nonce=nonce,
            session_id=session_id,
        )
        token_id = jti or secrets.token_urlsafe(16)
        payload["jti"] = token_id  # RFC 7519 §4.1.7
        payload["scope"] = " ".join(scopes)  # RFC 9068 §2.2.3
        return AccessToken(token=await self._keys.sign(payload), expiry=expiry, jti=token_id)

    async def verify_id_token(self, token: str, *, audience: str | None = None) -> VerifiedToken:
        """Like :meth:`verify_token`; with ``audience``, ``aud`` must contain it (the
        kubeconfig page's own session)."""
        return await self._verify(token, "ID token", audience=audience)

    async def verify_token(self, token: str, *, allow_expired: bool = False) -> VerifiedToken:
        """Signature, exact ``iss`` and ``exp`` (no leeway) of any token we issued, ID or
        access (``jti`` tells them apart; ``provider.verify`` adds the revocation rules and
        the kind). Raises :class:`InvalidTokenError`. ``allow_expired``
        skips only the ``exp`` check: an ``id_token_hint`` may have expired (OIDC
        RP-Initiated Logout §2); the signature must still verify with a kept key."""
        return await self._verify(token, "token", audience=None, allow_expired=allow_expired)

    async def _verify(
        self, token: str, kind: str, *, audience: str | None, allow_expired: bool = False
    ) -> VerifiedToken:
        invalid = f"the {kind} is invalid"
        try:
            claims = await self._keys.verify(token)
        except InvalidSignatureError:
            raise InvalidTokenError(invalid) from None
        options: dict[str, ClaimsOption] = {
            "iss": {"essential": True, "value": self._issuer},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "aud": {"essential": True},
        }
        if audience is not None:
            options["aud"] = {"essential": True, "value": audience}
        # RFC 7519 §4.1.4: valid only while now < exp; kube-apiserver allows no leeway.
        now = int(self._clock().timestamp())
        if allow_expired:
            now = 0  # exp is still required and type-checked, only never in the past
        registry = _ClaimsRegistry(now=lambda: now, leeway=0, **options)
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError:
            raise InvalidTokenError(f"the {kind} has expired") from None
        except jose_errors.JoseError:
            raise InvalidTokenError(invalid) from None
        if "events" in claims:
            # BCL 1.0 §4 / RFC 8417: a logout (or any security event) token is signed by
            # the same key but is never an ID or access token.
            raise InvalidTokenError(invalid)
        return _verified(claims, invalid)


def _verified(claims: dict[str, object], invalid: str) -> VerifiedToken:
    """Package claims that passed validation (types of the optional ones checked here)."""
    sub, exp, aud = claims["sub"], claims["exp"], claims["aud"]
    jti, scope, azp = claims.get("jti", ""), claims.get("scope", ""), claims.get("azp", "")
    sid, iat = claims.get("sid", ""), claims.get("iat")
    if not (
        isinstance(sub, str)
        and isinstance(exp, int | float)
        and isinstance(jti, str)
        and isinstance(scope, str)
        and isinstance(azp, str)
        and isinstance(sid, str)
        and (iat is None or (isinstance(iat, int | float) and not isinstance(iat, bool)))
    ):
        raise InvalidTokenError(invalid)
    try:
        expiry = datetime.fromtimestamp(exp, UTC)
        issued_at = None if iat is None else datetime.fromtimestamp(iat, UTC)
    except (OverflowError, ValueError, OSError):
        raise InvalidTokenError(invalid) from None
    return VerifiedToken(
        claims=claims,
        subject=sub,
        expiry=expiry,
        jti=jti,
        scopes=tuple(item for item in scope.split(" ") if item),
        client_id=azp,
        audience=(aud,) if isinstance(aud, str) else tuple(_strings(aud)),
        session_id=sid,
        issued_at=issued_at,
    )


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
