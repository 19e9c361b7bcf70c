"""The storage conformance suite (Dex's ``storage/conformance``).

A backend's test module provides a ``storage_factory`` fixture and subclasses:

- :class:`StorageConformance` — every backend;
- :class:`SharedStoreConformance` — backends whose store outlives one storage object, so
  a second object models a second server replica;
- :class:`UTCConformance` — backends that serialize datetimes (they return UTC and refuse
  naive datetimes; the memory backend keeps what it is given).
"""

from __future__ import annotations

from conformance.audit import AuditConcurrencyConformance, AuditConformance, SharedAuditConformance
from conformance.base import Boom, StorageFactory
from conformance.browser_sessions import (
    BrowserSessionConcurrencyConformance,
    BrowserSessionConformance,
    BrowserSessionExpiryConformance,
    SecretConformance,
    SharedBrowserSessionConformance,
)
from conformance.concurrency import ConcurrencyConformance, ReplicaConformance
from conformance.crud import CrudConformance, UpdaterConformance
from conformance.expiry import ExpiryConformance, UTCConformance
from conformance.secrets import ClientSecretConformance, SharedSecretConformance
from conformance.sessions import (
    RevocationConformance,
    SessionConcurrencyConformance,
    SessionConformance,
    SessionExpiryConformance,
    SharedSessionConformance,
)

__all__ = [
    "Boom",
    "SharedStoreConformance",
    "StorageConformance",
    "StorageFactory",
    "UTCConformance",
]


class StorageConformance(
    CrudConformance,
    UpdaterConformance,
    ExpiryConformance,
    ConcurrencyConformance,
    SessionConformance,
    RevocationConformance,
    SessionExpiryConformance,
    SessionConcurrencyConformance,
    AuditConformance,
    AuditConcurrencyConformance,
    BrowserSessionConformance,
    BrowserSessionExpiryConformance,
    BrowserSessionConcurrencyConformance,
    SecretConformance,
    ClientSecretConformance,
):
    """Everything every backend must do."""


class SharedStoreConformance(
    ReplicaConformance,
    SharedSessionConformance,
    SharedAuditConformance,
    SharedBrowserSessionConformance,
    SharedSecretConformance,
):
    """Two storage objects on one store behave like two server replicas."""
