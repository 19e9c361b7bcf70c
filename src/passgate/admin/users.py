"""Users of the password database (``enablePasswordDB``) through the admin API: stored
users are created, given a new password, disabled, enabled and deleted here;
``staticPasswords`` from the config file are listed, marked static, and refused any
change.

Disabling keeps the record (user id, groups, history) but refuses the person at the
password form, the password grant and refresh, and ends what they hold now (sessions,
tokens, browser sessions) through the :class:`~passgate.provider.revocation.Revoker`.

Passwords arrive in the clear (or as a bcrypt hash) and are stored only as bcrypt, in a
worker thread (hashing costs tens of milliseconds of CPU). They never enter the audit log.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from typing import Any

from passgate.admin.audit import Actor, Auditor
from passgate.admin.errors import BadRequestError, ConflictError, NotFoundError
from passgate.config.clients import bcrypt_mcf_cost
from passgate.provider.directory import Directory
from passgate.provider.passwords import (
    DEFAULT_BCRYPT_COST,
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_LENGTH,
    PasswordRuleError,
    hash_password,
)
from passgate.provider.revocation import Revoker
from passgate.storage import base as storage_errors
from passgate.storage.models import Password

__all__ = [
    "DEFAULT_BCRYPT_COST",
    "EMAIL_PATTERN",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_LENGTH",
    "NewUser",
    "Secret",
    "UserService",
    "UserView",
]

#: One ``@``, no spaces or control characters: the login name of the password form.
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,189}$"
_EMAIL = re.compile(EMAIL_PATTERN)


@dataclass(frozen=True, slots=True)
class Secret:
    """A new password in the clear, or an existing bcrypt hash: exactly one."""

    password: str | None = None
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    secret: Secret
    username: str = ""  # default: the part of the email before '@'
    user_id: str = ""  # default: a random UUID
    name: str = ""
    preferred_username: str = ""
    email_verified: bool = True
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserView:
    user: Password
    static: bool
    sessions_ended: int = 0  # by the call that disabled the user


def check_email(email: str) -> str:
    if not _EMAIL.fullmatch(email):
        raise BadRequestError("email must be an address such as jane@example.com")
    return email.lower()


class UserService:
    def __init__(
        self,
        directory: Directory,
        auditor: Auditor,
        revoker: Revoker,
        *,
        bcrypt_cost: int = DEFAULT_BCRYPT_COST,
    ) -> None:
        self._directory = directory
        self._storage = directory.storage
        self._auditor = auditor
        self._revoker = revoker
        self._cost = bcrypt_cost

    async def list_users(self, actor: Actor) -> list[UserView]:
        async with self._auditor.call("admin.user.list", actor):
            stored = await self._storage.list_passwords()
        directory = self._directory
        views = [UserView(user, True) for user in directory.static_passwords()]
        views += [UserView(u, False) for u in stored if not directory.is_static_password(u.email)]
        return sorted(views, key=lambda view: view.user.email)

    async def create(self, new: NewUser, actor: Actor) -> UserView:
        async with self._auditor.call("admin.user.create", actor, subject=new.email) as entry:
            email = check_email(new.email)
            entry.subject = email
            self._refuse_static(email)
            user = Password(
                email=email,
                hash=await self._hash(new.secret),
                username=new.username or email.partition("@")[0],
                user_id=new.user_id or str(uuid.uuid4()),
                name=new.name,
                preferred_username=new.preferred_username,
                email_verified=new.email_verified,
                groups=new.groups,
            )
            entry.user_id = user.user_id
            try:
                await self._storage.create_password(user)
            except storage_errors.AlreadyExistsError:
                raise ConflictError(f"user {email!r} exists already") from None
        return UserView(user, False)

    async def set_password(self, email: str, secret: Secret, actor: Actor) -> UserView:
        email = email.lower()
        async with self._auditor.call("admin.user.password", actor, subject=email) as entry:
            self._refuse_static(email)
            hashed = await self._hash(secret)
            user = await self._update(email, hash=hashed)
            entry.user_id = user.user_id
        return UserView(user, False)

    async def set_disabled(
        self, email: str, disabled: bool, actor: Actor, *, reason: str = ""
    ) -> UserView:
        """Disable (and end every session, token and browser session of) or enable a
        user. Disabling a disabled user ends what they hold again: nothing is left."""
        email = email.lower()
        action = "admin.user.disable" if disabled else "admin.user.enable"
        async with self._auditor.call(action, actor, subject=email) as entry:
            self._refuse_static(email)
            if reason:
                entry.details["reason"] = reason
            user = await self._update(email, disabled=disabled)
            entry.user_id = user.user_id
            ended: list[str] = []
            if disabled:  # after the write: a sign-in racing it is refused, then ended
                ended = await self._revoker.revoke_user(
                    user.user_id, actor=actor.name, reason=reason or "user disabled"
                )
                entry.details["sessions"] = str(len(ended))
        return UserView(user, False, len(ended))

    async def delete(self, email: str, actor: Actor) -> Password:
        email = email.lower()
        async with self._auditor.call("admin.user.delete", actor, subject=email) as entry:
            self._refuse_static(email)
            try:
                user = await self._storage.get_password(email)
                await self._storage.delete_password(email)
            except storage_errors.NotFoundError:
                raise _no_user(email) from None
            entry.user_id = user.user_id
        return user

    async def _update(self, email: str, **fields: Any) -> Password:
        """The stored user with ``fields`` changed; :class:`NotFoundError` for none."""
        try:
            return await self._storage.update_password(
                email, lambda old: dataclasses.replace(old, **fields)
            )
        except storage_errors.NotFoundError:
            raise _no_user(email) from None

    async def _hash(self, secret: Secret) -> bytes:
        if (secret.password is None) == (secret.hash is None):
            raise BadRequestError("give either password or hash")
        if secret.hash is not None:
            if bcrypt_mcf_cost(secret.hash) is None:
                raise BadRequestError("hash must be a bcrypt hash ($2a$, $2b$ or $2y$)")
            return secret.hash.encode("ascii")
        try:
            return await hash_password(secret.password or "", self._cost)
        except PasswordRuleError as error:
            raise BadRequestError(str(error)) from None

    def _refuse_static(self, email: str) -> None:
        if self._directory.is_static_password(email):
            raise ConflictError(
                f"user {email!r} is defined in the config file (staticPasswords) and is "
                "read-only here; change it in the config file"
            )


def _no_user(email: str) -> NotFoundError:
    return NotFoundError(f"no user {email!r}")
