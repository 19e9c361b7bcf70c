"""Numbered schema migrations, applied in order inside one locked transaction.

Files are ``migrations/NNNN_name.<flavour>.sql``: every flavour has the same numbers,
with DDL written per dialect. ``schema_migrations`` records which versions are applied,
so ``open()`` is idempotent; the backend holds a lock around :func:`apply` (SQLite
``BEGIN IMMEDIATE``, PostgreSQL ``pg_advisory_xact_lock``) so replicas starting together
neither both apply a migration nor fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from passgate.storage.base import StorageError
from passgate.storage.sql.session import Session

_FILE = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<flavour>[a-z]+)\.sql")

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    script: str


def load(flavour: str) -> list[Migration]:
    """The flavour's migrations in version order (blocking file reads: call in a thread)."""
    found: dict[int, Migration] = {}
    directory = resources.files("passgate.storage.sql").joinpath("migrations")
    for entry in directory.iterdir():
        match = _FILE.fullmatch(entry.name)
        if match is None or match["flavour"] != flavour:
            continue
        version = int(match["version"])
        if version in found:
            raise StorageError(f"two {flavour} migrations numbered {version}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise StorageError(f"{flavour} migrations are not numbered 1..n: {versions}")
    return [found[v] for v in versions]


async def apply(session: Session, migrations: list[Migration]) -> list[int]:
    """Apply the pending migrations inside the caller's transaction; return their versions."""
    await session.execute(CREATE_TABLE, {})
    rows = await session.fetch("SELECT version FROM schema_migrations", {})
    applied = {int(row["version"]) for row in rows}
    known = {m.version for m in migrations}
    if unknown := applied - known:
        # A newer Passgate migrated this database; running older code on it is unsafe.
        raise StorageError(
            f"database schema has versions {sorted(unknown)} that this Passgate does not know"
        )
    done: list[int] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        await session.script(migration.script)
        await session.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (:version, :name)",
            {"version": migration.version, "name": migration.name},
        )
        done.append(migration.version)
    return done
