"""Record ⇄ row conversions for the long-lived records (clients, passwords, keys, login
attempts) and the helpers every table shares.

Tuples, claims, PKCE and nested maps are JSON; bytes are BLOB/bytea; datetimes go through
the flavour (see ``flavour.py``). Column names avoid SQL keywords (``is_public``,
``user_groups``, ``password_hash``) so no identifier needs quoting.
"""

from __future__ import annotations

from typing import Any

from passgate.storage.models import (
    PKCE,
    Client,
    Keys,
    LoginAttempts,
    Password,
    PendingKey,
    ServerSecret,
    VerificationKey,
)
from passgate.storage.sql.flavour import Flavour, from_iso, to_iso
from passgate.storage.sql.table import Row, Table

KEYS_ROW_ID = "keys"


def strs(f: Flavour, value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in f.unjson(value))


def pkce_json(p: PKCE) -> dict[str, object]:
    return {"code_challenge": p.code_challenge, "code_challenge_method": p.code_challenge_method}


def pkce_from_json(d: dict[str, Any]) -> PKCE:
    return PKCE(d.get("code_challenge", ""), d.get("code_challenge_method", ""))


# -- clients ---------------------------------------------------------------------------
def _enc_client(f: Flavour, c: Client) -> dict[str, object]:
    return {
        "id": c.id,
        "secret": c.secret,
        "redirect_uris": f.json(list(c.redirect_uris)),
        "trusted_peers": f.json(list(c.trusted_peers)),
        "is_public": c.public,
        "name": c.name,
        "logo_url": c.logo_url,
        "post_logout_redirect_uris": f.json(list(c.post_logout_redirect_uris)),
        "allowed_connectors": f.json(list(c.allowed_connectors)),
        "backchannel_logout_uri": c.backchannel_logout_uri,
        # NULL (use the default) and [] (share with nobody) mean different things.
        "sso_shared_with": None if c.sso_shared_with is None else f.json(list(c.sso_shared_with)),
        "secret_hash": c.secret_hash,
    }


def _dec_client(f: Flavour, r: Row) -> Client:
    return Client(
        id=r["id"],
        secret=r["secret"],
        redirect_uris=strs(f, r["redirect_uris"]),
        trusted_peers=strs(f, r["trusted_peers"]),
        public=bool(r["is_public"]),
        name=r["name"],
        logo_url=r["logo_url"],
        post_logout_redirect_uris=strs(f, r["post_logout_redirect_uris"]),
        allowed_connectors=strs(f, r["allowed_connectors"]),
        backchannel_logout_uri=r["backchannel_logout_uri"],
        sso_shared_with=None if r["sso_shared_with"] is None else strs(f, r["sso_shared_with"]),
        secret_hash=r["secret_hash"],
    )


# -- passwords -------------------------------------------------------------------------
def _enc_password(f: Flavour, p: Password) -> dict[str, object]:
    return {
        "email": p.email.lower(),
        "password_hash": p.hash,
        "username": p.username,
        "user_id": p.user_id,
        "name": p.name,
        "preferred_username": p.preferred_username,
        "email_verified": p.email_verified,
        "user_groups": f.json(list(p.groups)),
        "disabled": p.disabled,
    }


def _dec_password(f: Flavour, r: Row) -> Password:
    return Password(
        email=r["email"],
        hash=bytes(r["password_hash"]),
        username=r["username"],
        user_id=r["user_id"],
        name=r["name"],
        preferred_username=r["preferred_username"],
        email_verified=bool(r["email_verified"]),
        groups=strs(f, r["user_groups"]),
        disabled=bool(r["disabled"]),
    )


# -- signing keys (one row) ------------------------------------------------------------
def _enc_keys(f: Flavour, k: Keys) -> dict[str, object]:
    verification = [{"jwk": v.public_jwk, "expiry": to_iso(v.expiry)} for v in k.verification_keys]
    pending = k.next_key
    return {
        "id": KEYS_ROW_ID,
        "signing_key": None if k.signing_key is None else f.json(k.signing_key),
        "signing_key_pub": None if k.signing_key_pub is None else f.json(k.signing_key_pub),
        "verification_keys": f.json(verification),
        "next_rotation": f.opt_time(k.next_rotation),
        "next_key": None if pending is None else f.json(pending.private_jwk),
        "next_key_pub": None if pending is None else f.json(pending.public_jwk),
        "next_key_signs_at": None if pending is None else f.time(pending.signs_at),
    }


def _dec_keys(f: Flavour, r: Row) -> Keys:
    signing, public = r["signing_key"], r["signing_key_pub"]
    return Keys(
        signing_key=None if signing is None else dict(f.unjson(signing)),
        signing_key_pub=None if public is None else dict(f.unjson(public)),
        verification_keys=tuple(
            VerificationKey(public_jwk=dict(v["jwk"]), expiry=from_iso(v["expiry"]))
            for v in f.unjson(r["verification_keys"])
        ),
        next_rotation=f.opt_untime(r["next_rotation"]),
        next_key=_dec_pending(f, r),
    )


def _dec_pending(f: Flavour, r: Row) -> PendingKey | None:
    private, public, signs_at = r["next_key"], r["next_key_pub"], r["next_key_signs_at"]
    if private is None or public is None or signs_at is None:
        return None
    return PendingKey(dict(f.unjson(private)), dict(f.unjson(public)), f.untime(signs_at))


# -- failed login attempts -------------------------------------------------------------
def _enc_attempts(f: Flavour, a: LoginAttempts) -> dict[str, object]:
    return {
        "attempt_key": a.key,
        "failures": a.failures,
        "expiry": f.time(a.expiry),
        "locked_until": f.opt_time(a.locked_until),
    }


def _dec_attempts(f: Flavour, r: Row) -> LoginAttempts:
    return LoginAttempts(
        key=r["attempt_key"],
        failures=int(r["failures"]),
        expiry=f.untime(r["expiry"]),
        locked_until=f.opt_untime(r["locked_until"]),
    )


CLIENTS = Table[Client](
    "clients",
    ("id",),
    ("secret", "redirect_uris", "trusted_peers", "is_public", "name", "logo_url",
     "post_logout_redirect_uris", "allowed_connectors", "backchannel_logout_uri",
     "sso_shared_with", "secret_hash"),
    _enc_client,
    _dec_client,
)  # fmt: skip

PASSWORDS = Table[Password](
    "passwords",
    ("email",),
    ("password_hash", "username", "user_id", "name", "preferred_username", "email_verified",
     "user_groups", "disabled"),
    _enc_password,
    _dec_password,
)  # fmt: skip

SIGNING_KEYS = Table[Keys](
    "signing_keys",
    ("id",),
    ("signing_key", "signing_key_pub", "verification_keys", "next_rotation", "next_key",
     "next_key_pub", "next_key_signs_at"),
    _enc_keys,
    _dec_keys,
)  # fmt: skip

LOGIN_ATTEMPTS = Table[LoginAttempts](
    "login_attempts",
    ("attempt_key",),
    ("failures", "expiry", "locked_until"),
    _enc_attempts,
    _dec_attempts,
)


# -- shared server secrets -------------------------------------------------------------
def _enc_secret(f: Flavour, s: ServerSecret) -> dict[str, object]:
    return {"name": s.name, "value": s.value, "created_at": f.time(s.created_at)}


def _dec_secret(f: Flavour, r: Row) -> ServerSecret:
    return ServerSecret(
        name=r["name"], value=bytes(r["value"]), created_at=f.untime(r["created_at"])
    )


SECRETS = Table[ServerSecret]("server_secrets", ("name",), ("value", "created_at"), _enc_secret,
                              _dec_secret)  # fmt: skip
