"""Fill a fresh Passgate storage with sign-in sessions before the server starts, so the
``tokenreview`` scenario runs against an issuer holding thousands of active sessions and
the revocation rules of some ended ones (every TokenReview must still answer from memory).

This is the one bench module that imports Passgate: it writes through Passgate's own
storage layer, on the backend the benchmarked server then opens.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

#: Sessions written before the run; one in ten is revoked (with its rule).
DEFAULT_SESSIONS = 5000
REVOKED_EVERY = 10


async def seed_sessions(storage: dict[str, Any], count: int = DEFAULT_SESSIONS) -> int:
    """Write ``count`` sessions (and rules for the revoked tenth); how many rules."""
    from passgate.config.storage import StorageConfig
    from passgate.storage.factory import open_storage
    from passgate.storage.models import Claims, Revocation, Session

    config = StorageConfig.model_validate(storage)
    backend = await open_storage(config.type, config.options())
    now = datetime.now(UTC)
    rules = 0
    try:
        for start in range(0, count, 100):
            batch = []
            for index in range(start, min(start + 100, count)):
                revoked = index % REVOKED_EVERY == 0
                user = f"seed-{index}"
                batch.append(
                    backend.create_session(
                        Session(
                            id=f"seed-session-{index}",
                            user_id=user,
                            connector_id="local",
                            client_id="bench",
                            scopes=("openid", "email", "groups", "offline_access"),
                            claims=Claims(user_id=user, username=user, email=f"{user}@bench"),
                            created_at=now,
                            last_used=now,
                            remote_addr="127.0.0.1",
                            revoked_at=now if revoked else None,
                            revoked_by="seed" if revoked else "",
                        )
                    )
                )
                if revoked:
                    rules += 1
                    batch.append(
                        backend.add_revocation(
                            Revocation(
                                id=f"seed-rule-{index}",
                                kind="session",
                                value=f"seed-session-{index}",
                                issued_before=now,
                                created_at=now,
                                expiry=now + timedelta(hours=1),
                                actor="seed",
                            )
                        )
                    )
            await asyncio.gather(*batch)
    finally:
        await backend.close()
    return rules
