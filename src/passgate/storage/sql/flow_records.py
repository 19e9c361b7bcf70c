"""Record ⇄ row conversions for the short-lived OAuth state: authorization requests and
codes, refresh tokens, offline sessions and the device flow (RFC 8628)."""

from __future__ import annotations

from typing import Any

from passgate.storage.codec import claims_from_json, claims_json
from passgate.storage.models import (
    AuthCode,
    AuthRequest,
    DeviceRequest,
    DeviceToken,
    OfflineSession,
    RefreshToken,
    RefreshTokenRef,
)
from passgate.storage.sql.flavour import Flavour, from_iso, to_iso
from passgate.storage.sql.records import pkce_from_json, pkce_json, strs
from passgate.storage.sql.table import Row, Table


# -- authorization requests ------------------------------------------------------------
def _enc_auth_request(f: Flavour, a: AuthRequest) -> dict[str, object]:
    return {
        "id": a.id,
        "client_id": a.client_id,
        "response_types": f.json(list(a.response_types)),
        "scopes": f.json(list(a.scopes)),
        "redirect_uri": a.redirect_uri,
        "expiry": f.time(a.expiry),
        "state": a.state,
        "nonce": a.nonce,
        "force_approval_prompt": a.force_approval_prompt,
        "logged_in": a.logged_in,
        "claims": None if a.claims is None else f.json(claims_json(a.claims)),
        "connector_id": a.connector_id,
        "connector_data": a.connector_data,
        "pkce": f.json(pkce_json(a.pkce)),
        "hmac_key": a.hmac_key,
        "max_age": a.max_age,
        "auth_time": f.opt_time(a.auth_time),
        "browser_session_id": a.browser_session_id,
        "sso": a.sso,
        "acr_values": f.json(list(a.acr_values)),
        "login_hint": a.login_hint,
    }


def _dec_auth_request(f: Flavour, r: Row) -> AuthRequest:
    return AuthRequest(
        id=r["id"],
        client_id=r["client_id"],
        response_types=strs(f, r["response_types"]),
        scopes=strs(f, r["scopes"]),
        redirect_uri=r["redirect_uri"],
        expiry=f.untime(r["expiry"]),
        state=r["state"],
        nonce=r["nonce"],
        force_approval_prompt=bool(r["force_approval_prompt"]),
        logged_in=bool(r["logged_in"]),
        claims=None if r["claims"] is None else claims_from_json(f.unjson(r["claims"])),
        connector_id=r["connector_id"],
        connector_data=bytes(r["connector_data"]),
        pkce=pkce_from_json(f.unjson(r["pkce"])),
        hmac_key=bytes(r["hmac_key"]),
        max_age=r["max_age"],
        auth_time=f.opt_untime(r["auth_time"]),
        browser_session_id=r["browser_session_id"],
        sso=bool(r["sso"]),
        acr_values=strs(f, r["acr_values"]),
        login_hint=r["login_hint"],
    )


# -- authorization codes ---------------------------------------------------------------
def _enc_auth_code(f: Flavour, c: AuthCode) -> dict[str, object]:
    return {
        "id": c.id,
        "client_id": c.client_id,
        "redirect_uri": c.redirect_uri,
        "scopes": f.json(list(c.scopes)),
        "connector_id": c.connector_id,
        "claims": f.json(claims_json(c.claims)),
        "expiry": f.time(c.expiry),
        "nonce": c.nonce,
        "connector_data": c.connector_data,
        "pkce": f.json(pkce_json(c.pkce)),
        "auth_time": f.opt_time(c.auth_time),
        "redeemed": c.redeemed,
        "refresh_token_id": c.refresh_token_id,
        "access_token_id": c.access_token_id,
        "session_id": c.session_id,
    }


def _dec_auth_code(f: Flavour, r: Row) -> AuthCode:
    return AuthCode(
        id=r["id"],
        client_id=r["client_id"],
        redirect_uri=r["redirect_uri"],
        scopes=strs(f, r["scopes"]),
        connector_id=r["connector_id"],
        claims=claims_from_json(f.unjson(r["claims"])),
        expiry=f.untime(r["expiry"]),
        nonce=r["nonce"],
        connector_data=bytes(r["connector_data"]),
        pkce=pkce_from_json(f.unjson(r["pkce"])),
        auth_time=f.opt_untime(r["auth_time"]),
        redeemed=bool(r["redeemed"]),
        refresh_token_id=r["refresh_token_id"],
        access_token_id=r["access_token_id"],
        session_id=r["session_id"],
    )


# -- refresh tokens --------------------------------------------------------------------
def _enc_refresh(f: Flavour, t: RefreshToken) -> dict[str, object]:
    return {
        "id": t.id,
        "token_hash": t.token_hash,
        "client_id": t.client_id,
        "connector_id": t.connector_id,
        "claims": f.json(claims_json(t.claims)),
        "scopes": f.json(list(t.scopes)),
        "created_at": f.time(t.created_at),
        "last_used": f.time(t.last_used),
        "obsolete_token_hash": t.obsolete_token_hash,
        "rotation_key": t.rotation_key,
        "nonce": t.nonce,
        "connector_data": t.connector_data,
        "auth_time": f.opt_time(t.auth_time),
        "session_id": t.session_id,
    }


def _dec_refresh(f: Flavour, r: Row) -> RefreshToken:
    return RefreshToken(
        id=r["id"],
        token_hash=r["token_hash"],
        client_id=r["client_id"],
        connector_id=r["connector_id"],
        claims=claims_from_json(f.unjson(r["claims"])),
        scopes=strs(f, r["scopes"]),
        created_at=f.untime(r["created_at"]),
        last_used=f.untime(r["last_used"]),
        obsolete_token_hash=r["obsolete_token_hash"],
        rotation_key=bytes(r["rotation_key"]),
        nonce=r["nonce"],
        connector_data=bytes(r["connector_data"]),
        auth_time=f.opt_untime(r["auth_time"]),
        session_id=r["session_id"],
    )


# -- offline sessions ------------------------------------------------------------------
def _enc_offline(f: Flavour, s: OfflineSession) -> dict[str, object]:
    refs = {
        client: {
            "id": ref.id,
            "client_id": ref.client_id,
            "created_at": to_iso(ref.created_at),
            "last_used": to_iso(ref.last_used),
        }
        for client, ref in s.refresh.items()
    }
    return {
        "user_id": s.user_id,
        "connector_id": s.connector_id,
        "refresh_refs": f.json(refs),
        "connector_data": s.connector_data,
    }


def _dec_offline(f: Flavour, r: Row) -> OfflineSession:
    refs: dict[str, Any] = f.unjson(r["refresh_refs"])
    return OfflineSession(
        user_id=r["user_id"],
        connector_id=r["connector_id"],
        refresh={
            client: RefreshTokenRef(
                id=ref["id"],
                client_id=ref["client_id"],
                created_at=from_iso(ref["created_at"]),
                last_used=from_iso(ref["last_used"]),
            )
            for client, ref in refs.items()
        },
        connector_data=bytes(r["connector_data"]),
    )


# -- device flow -----------------------------------------------------------------------
def _enc_device_request(f: Flavour, d: DeviceRequest) -> dict[str, object]:
    return {
        "user_code": d.user_code,
        "device_code": d.device_code,
        "client_id": d.client_id,
        "client_secret": d.client_secret,
        "scopes": f.json(list(d.scopes)),
        "expiry": f.time(d.expiry),
    }


def _dec_device_request(f: Flavour, r: Row) -> DeviceRequest:
    return DeviceRequest(
        user_code=r["user_code"],
        device_code=r["device_code"],
        client_id=r["client_id"],
        client_secret=r["client_secret"],
        scopes=strs(f, r["scopes"]),
        expiry=f.untime(r["expiry"]),
    )


def _enc_device_token(f: Flavour, t: DeviceToken) -> dict[str, object]:
    return {
        "device_code": t.device_code,
        "status": t.status,
        "token": t.token,
        "expiry": f.time(t.expiry),
        "last_request_time": f.time(t.last_request_time),
        "poll_interval_seconds": t.poll_interval_seconds,
        "pkce": f.json(pkce_json(t.pkce)),
    }


def _dec_device_token(f: Flavour, r: Row) -> DeviceToken:
    return DeviceToken(
        device_code=r["device_code"],
        status=r["status"],
        token=r["token"],
        expiry=f.untime(r["expiry"]),
        last_request_time=f.untime(r["last_request_time"]),
        poll_interval_seconds=int(r["poll_interval_seconds"]),
        pkce=pkce_from_json(f.unjson(r["pkce"])),
    )


AUTH_REQUESTS = Table[AuthRequest](
    "auth_requests",
    ("id",),
    ("client_id", "response_types", "scopes", "redirect_uri", "expiry", "state", "nonce",
     "force_approval_prompt", "logged_in", "claims", "connector_id", "connector_data", "pkce",
     "hmac_key", "max_age", "auth_time", "browser_session_id", "sso", "acr_values",
     "login_hint"),
    _enc_auth_request,
    _dec_auth_request,
)  # fmt: skip

AUTH_CODES = Table[AuthCode](
    "auth_codes",
    ("id",),
    ("client_id", "redirect_uri", "scopes", "connector_id", "claims", "expiry", "nonce",
     "connector_data", "pkce", "auth_time", "redeemed", "refresh_token_id", "access_token_id",
     "session_id"),
    _enc_auth_code,
    _dec_auth_code,
)  # fmt: skip

REFRESH_TOKENS = Table[RefreshToken](
    "refresh_tokens",
    ("id",),
    ("token_hash", "client_id", "connector_id", "claims", "scopes", "created_at", "last_used",
     "obsolete_token_hash", "rotation_key", "nonce", "connector_data", "auth_time", "session_id"),
    _enc_refresh,
    _dec_refresh,
)  # fmt: skip

OFFLINE_SESSIONS = Table[OfflineSession](
    "offline_sessions",
    ("user_id", "connector_id"),
    ("refresh_refs", "connector_data"),
    _enc_offline,
    _dec_offline,
)

DEVICE_REQUESTS = Table[DeviceRequest](
    "device_requests",
    ("user_code",),
    ("device_code", "client_id", "client_secret", "scopes", "expiry"),
    _enc_device_request,
    _dec_device_request,
)

DEVICE_TOKENS = Table[DeviceToken](
    "device_tokens",
    ("device_code",),
    ("status", "token", "expiry", "last_request_time", "poll_interval_seconds", "pkce"),
    _enc_device_token,
    _dec_device_token,
)
