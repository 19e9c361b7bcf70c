"""Client secrets at rest: a stored client (made through the admin API) keeps only a hash
of its secret, ``Client.secret_hash`` = ``<scheme>$<hash>``:

- ``hmac-sha256$<hex>``: HMAC-SHA256 keyed with the server's pepper, for secrets Passgate
  generates. They carry 256 random bits, so there is nothing to guess and one keyed hash
  (microseconds) is enough.
- ``bcrypt-hmac-sha256$<bcrypt>``: bcrypt over the base64 of that HMAC, for secrets set
  by hand (and rows from before hashing, whose origin is unknown): they may be guessable,
  and bcrypt makes each guess cost. bcrypt reads at most 72 bytes (bcrypt 5 refuses
  more) and stops at a NUL; the HMAC's 44 base64 characters always fit, so a long secret
  counts in full and two secrets sharing 72 bytes do not match.

The pepper is a random 256-bit server secret in storage (``client-secret-pepper``),
encrypted with ``signer.config.encryptionKey`` when one is set (``keys/at_rest``): then
a database dump alone cannot check a single guess, and rotating the encryption key only
re-encrypts the pepper (no client hash changes). Static clients keep Dex's ``secret`` /
``secretEnv`` in the config file and are compared in constant time, as is a stored row
that predates hashing until start-up hashes it (:meth:`ClientSecrets.upgrade_stored`).

bcrypt costs ~60 ms of CPU per check (cost 10, Dex's minimum) here: a confidential client
calling ``/token`` many times a second would queue behind it. A successful check is
remembered per client for ``remember`` (keyed by an HMAC of the presented secret under a
random per-process key, and by the stored hash, so a rotated or deleted secret stops
matching at once); checks run in worker threads, at most ``parallel`` at a time, so the
event loop never waits for one.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import bcrypt

from passgate.clock import Clock
from passgate.config.clients import DEX_MIN_BCRYPT_COST
from passgate.keys.at_rest import load_server_secret
from passgate.keys.encryption import KeyRing
from passgate.oauth2.client_auth import check_secret, unknown_client
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import Client

__all__ = ["GENERATED", "HAND_SET", "PEPPER_NAME", "ClientSecrets", "load_client_secrets"]

log = logging.getLogger(__name__)

PEPPER_NAME = "client-secret-pepper"
GENERATED = "hmac-sha256"
HAND_SET = "bcrypt-hmac-sha256"
_REMEMBERED = 4096  # clients whose last good secret is remembered


@dataclass(frozen=True, slots=True)
class _Verified:
    stored: str  # the secret_hash the secret was checked against
    digest: bytes  # HMAC of the secret under the per-process key
    until: datetime


class ClientSecrets:
    """Hashes new secrets of stored clients and checks presented ones."""

    def __init__(
        self,
        pepper: bytes,
        clock: Clock,
        *,
        bcrypt_cost: int = DEX_MIN_BCRYPT_COST,
        remember: timedelta = timedelta(minutes=10),
        parallel: int = 2,
    ) -> None:
        if len(pepper) < 32:
            raise ValueError("the client-secret pepper must be at least 32 bytes")
        self._pepper = pepper
        self._clock = clock
        self._cost = bcrypt_cost
        self._remember = remember
        self._checks = anyio.Semaphore(parallel)
        self._memory_key = secrets.token_bytes(32)
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    # -- hashing -------------------------------------------------------------------------
    def _hmac(self, secret: str) -> bytes:
        return hmac.new(self._pepper, secret.encode("utf-8"), hashlib.sha256).digest()

    def _prehash(self, secret: str) -> bytes:
        return base64.b64encode(self._hmac(secret))  # 44 bytes, no NUL: within bcrypt's 72

    def hash_generated(self, secret: str) -> str:
        """The stored form of a secret Passgate generated (high entropy)."""
        return f"{GENERATED}${self._hmac(secret).hex()}"

    async def hash_set(self, secret: str) -> str:
        """The stored form of a secret set by hand (bcrypt, in a worker thread)."""
        salt = bcrypt.gensalt(rounds=self._cost)
        hashed = await anyio.to_thread.run_sync(bcrypt.hashpw, self._prehash(secret), salt)
        return f"{HAND_SET}${hashed.decode('ascii')}"

    # -- checking ------------------------------------------------------------------------
    async def check(self, client: Client, presented: str, method: str) -> None:
        """Raise ``invalid_client`` unless ``presented`` is the client's secret (RFC 6749
        §2.3.1), comparing in constant time."""
        if not client.secret_hash:
            # Static clients, and stored rows not hashed yet.
            check_secret(client.secret, presented, method)
            return
        if not await self._matches(client.id, client.secret_hash, presented):
            raise unknown_client(method)

    async def _matches(self, client_id: str, stored: str, presented: str) -> bool:
        scheme, _, hashed = stored.partition("$")
        if scheme == GENERATED:
            return secrets.compare_digest(self._hmac(presented).hex().encode(), hashed.encode())
        if scheme != HAND_SET:
            log.warning("client %s has a secret hash of an unknown scheme", client_id)
            return False
        digest = hmac.new(self._memory_key, presented.encode("utf-8"), hashlib.sha256).digest()
        now = self._clock()
        known = self._verified.get(client_id)
        if (
            known is not None
            and known.stored == stored
            and now < known.until
            and secrets.compare_digest(known.digest, digest)
        ):
            return True
        async with self._checks:
            ok = await anyio.to_thread.run_sync(
                _bcrypt_matches, self._prehash(presented), hashed.encode("ascii", "replace")
            )
        if ok:
            self._verified[client_id] = _Verified(stored, digest, now + self._remember)
            self._verified.move_to_end(client_id)
            while len(self._verified) > _REMEMBERED:
                self._verified.popitem(last=False)
        return ok

    # -- rows from before hashing ----------------------------------------------------------
    async def upgrade_stored(self, storage: Storage) -> int:
        """Hash the secret of every stored client that still keeps it as given (rows from
        before migration 0005), as set by hand since their origin is unknown. One
        compare-and-swap per row: replicas doing it at once leave one hash, and a row
        changed meanwhile is left alone. How many this call hashed."""
        hashed = 0
        for client in await storage.list_clients():
            if client.secret_hash or not client.secret:
                continue
            seen, new_hash = client.secret, await self.hash_set(client.secret)

            def upgrade(old: Client, seen: str = seen, new_hash: str = new_hash) -> Client:
                if old.secret_hash or old.secret != seen:
                    return old
                return dataclasses.replace(old, secret="", secret_hash=new_hash)

            with contextlib.suppress(NotFoundError):  # deleted meanwhile
                if (await storage.update_client(client.id, upgrade)).secret_hash == new_hash:
                    hashed += 1
        if hashed:
            log.info("hashed the secrets of %d stored clients kept in the clear", hashed)
        return hashed


def _bcrypt_matches(prehashed: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(prehashed, hashed)
    except ValueError:  # not a bcrypt hash
        return False


async def load_client_secrets(storage: Storage, ring: KeyRing, clock: Clock) -> ClientSecrets:
    """The :class:`ClientSecrets` of this deployment, with its shared pepper."""
    return ClientSecrets(await load_server_secret(storage, PEPPER_NAME, ring, clock), clock)
