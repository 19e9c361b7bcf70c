"""The password database connector on its own: a disabled user is refused like a wrong
password at sign-in, and their refresh fails as an upstream verdict about the person."""

from __future__ import annotations

import dataclasses

import bcrypt
import pytest

from passgate.connectors.base import ConnectorError, Scopes
from passgate.connectors.local import LocalConnector
from passgate.storage.base import NotFoundError
from passgate.storage.models import Password

pytestmark = pytest.mark.anyio

USER = Password(
    email="kim@example.com",
    hash=bcrypt.hashpw(b"kims-password", bcrypt.gensalt(rounds=4)),
    username="kim",
    user_id="u-kim",
)


def connector(user: Password) -> LocalConnector:
    async def lookup(email: str) -> Password:
        if email.lower() != user.email:
            raise NotFoundError(email)
        return user

    return LocalConnector(lookup)


async def test_a_disabled_user_is_refused_at_sign_in_and_refresh() -> None:
    enabled = connector(USER)
    identity = await enabled.login(Scopes(), "kim@example.com", "kims-password")
    assert identity is not None
    assert (await enabled.refresh(Scopes(), identity)).user_id == "u-kim"

    disabled = connector(dataclasses.replace(USER, disabled=True))
    assert await disabled.login(Scopes(), "kim@example.com", "kims-password") is None
    with pytest.raises(ConnectorError, match="disabled"):
        await disabled.refresh(Scopes(), identity)
