"""Build the storage named by the config's ``storage: {type, config}`` block (Dex's keys).

Option names are matched case-insensitively, like Dex's JSON decoding. Numbers may be
strings, because ``$VAR`` expansion inside ``storage.config`` yields strings. Unknown
options are errors, never silently ignored. PostgreSQL's ``maxIdleConns`` is accepted for
Dex compatibility but has no pool equivalent: idle connections above the pool's minimum
(one) are closed after ten idle minutes.
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg.conninfo import make_conninfo

from passgate.storage.base import Storage
from passgate.storage.memory import MemoryStorage
from passgate.storage.sql.postgres import PostgresStorage
from passgate.storage.sql.sqlite import SQLiteStorage

SUPPORTED = ("memory", "sqlite3", "postgres")
# Dex storage types that Passgate recognises but cannot open yet.
NOT_YET = ("mysql", "etcd", "kubernetes")

_SQLITE_KEYS = ("file",)
_POSTGRES_KEYS = (
    "host", "port", "database", "user", "password", "connectionTimeout", "maxOpenConns",
    "maxIdleConns", "connMaxLifetime", "ssl",
)  # fmt: skip
_SSL_KEYS = ("mode", "caFile", "certFile", "keyFile")
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_CONNECT_TIMEOUT = 10
KEEPALIVES: dict[str, str | int] = {
    "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}  # fmt: skip
DEFAULT_MAX_OPEN_CONNS = 10


async def open_storage(kind: str, options: Mapping[str, object]) -> Storage:
    """Create the backend, open it (connect, apply migrations) and return it."""
    storage = build_storage(kind, options)
    await storage.open()
    return storage


def build_storage(kind: str, options: Mapping[str, object]) -> Storage:
    """The unopened backend for ``kind`` (``memory``, ``sqlite3``, ``postgres``)."""
    if kind == "memory":
        _normalize("memory", options, ())
        return MemoryStorage()
    if kind == "sqlite3":
        opts = _normalize("sqlite3", options, _SQLITE_KEYS)
        file = opts.get("file")
        if not isinstance(file, str) or not file:
            raise ValueError("storage sqlite3: config.file (the database path) is required")
        return SQLiteStorage(file)
    if kind == "postgres":
        opts = _normalize("postgres", options, _POSTGRES_KEYS)
        timeout = _int(opts, "connectionTimeout", 0) or DEFAULT_CONNECT_TIMEOUT
        max_open = _int(opts, "maxOpenConns", 0) or DEFAULT_MAX_OPEN_CONNS
        lifetime = _int(opts, "connMaxLifetime", 0) or 3600
        return PostgresStorage(
            postgres_conninfo(opts, connect_timeout=timeout),
            min_size=1,
            max_size=max_open,
            connect_timeout=timeout,
            max_lifetime=float(lifetime),
        )
    if kind in NOT_YET:
        raise ValueError(
            f"storage type {kind!r} is recognised but not supported yet; "
            f"use one of: {', '.join(SUPPORTED)}"
        )
    raise ValueError(f"unknown storage type {kind!r}; supported: {', '.join(SUPPORTED)}")


def postgres_conninfo(options: Mapping[str, object], *, connect_timeout: int) -> str:
    """A libpq conninfo string for Dex's postgres options, every value escaped by psycopg.

    Like Dex: ``host`` may be ``host:port``, and without ``ssl.mode`` the strictest mode
    (``verify-full``) is used.
    """
    host = _str(options, "host")
    port = _int(options, "port", 0)
    if host and ":" in host and not host.startswith("/") and host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = _parse_int("port", port_text)
    ssl = _normalize("postgres ssl", _mapping(options, "ssl"), _SSL_KEYS)
    mode = _str(ssl, "mode") or "verify-full"
    if mode not in _SSL_MODES:
        raise ValueError(f"storage postgres: ssl.mode {mode!r} is not one of {_SSL_MODES}")
    params: dict[str, str | int] = {"connect_timeout": connect_timeout, "sslmode": mode}
    if not host.startswith("/"):
        # A network cut without a reset (a dead node, a dropped route) must not hang a
        # request for the kernel's two hours: TCP keepalives find an idle connection dead
        # in about 11 s, and unacknowledged data fails a busy one after 10 s.
        params |= KEEPALIVES
    for name, value in (
        ("host", host),
        ("port", port or None),
        ("dbname", _str(options, "database")),
        ("user", _str(options, "user")),
        ("password", _str(options, "password")),
        ("sslrootcert", _str(ssl, "caFile")),
        ("sslcert", _str(ssl, "certFile")),
        ("sslkey", _str(ssl, "keyFile")),
    ):
        if value:
            params[name] = value
    return make_conninfo("", **params)


def _normalize(
    what: str, options: Mapping[str, object], known: tuple[str, ...]
) -> dict[str, object]:
    """Options keyed by their canonical spelling; unknown keys are an error, not ignored."""
    canonical = {k.lower(): k for k in known}
    out: dict[str, object] = {}
    unknown: list[str] = []
    for key, value in options.items():
        name = canonical.get(str(key).lower())
        if name is None:
            unknown.append(str(key))
        else:
            out[name] = value
    if unknown:
        allowed = ", ".join(known) or "none"
        raise ValueError(f"storage {what}: unknown option(s) {unknown}; allowed: {allowed}")
    return out


def _str(options: Mapping[str, object], key: str) -> str:
    value = options.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"storage option {key!r} must be a string")
    return str(value)


def _int(options: Mapping[str, object], key: str, default: int) -> int:
    value = options.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ValueError(f"storage option {key!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str):
        result = _parse_int(key, value)
    else:
        raise ValueError(f"storage option {key!r} must be an integer, got {value!r}")
    if result < 0:
        raise ValueError(f"storage option {key!r} must not be negative, got {result}")
    return result


def _parse_int(key: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"storage option {key!r} must be an integer, got {text!r}") from None


def _mapping(options: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = options.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"storage option {key!r} must be a mapping")
    return {str(k): v for k, v in value.items()}
