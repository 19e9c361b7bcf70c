"""The pure rotation steps that storage runs inside update_keys: publish first, sign later."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.util import urlsafe_b64encode

from passgate.keys.rotation import (
    NewKey,
    Schedule,
    advance,
    change_due,
    check_algorithm,
    generate_key,
    next_change,
    publish,
    replace,
    signs_from,
)
from passgate.storage.models import Keys, PendingKey, VerificationKey

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = timedelta(hours=6)
RETENTION = timedelta(hours=24)
DELAY = timedelta(minutes=5)
SCHEDULE = Schedule(rotation_period=PERIOD, propagation_delay=DELAY, retention=RETENTION)


class SeenAtPublication(dict[str, datetime]):
    """A replica that loaded every pending key the moment it was published."""

    def get(self, kid: str, default: object = None) -> datetime:  # type: ignore[override]
        return datetime.min.replace(tzinfo=UTC)


SEEN = SeenAtPublication()


def rfc7638_thumbprint(jwk: dict[str, object]) -> str:
    """RFC 7638 §3, computed here without joserfc: required members, sorted, no spaces."""
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode()


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_generated_key_is_identified_by_its_thumbprint(algorithm: str) -> None:
    new = generate_key(algorithm)
    assert new.kid == rfc7638_thumbprint(new.public_jwk)
    assert new.public_jwk["kid"] == new.private_jwk["kid"] == new.kid
    assert new.public_jwk["alg"] == algorithm
    assert new.public_jwk["use"] == "sig"
    assert "d" in new.private_jwk
    assert not {"d", "p", "q"} & set(new.public_jwk)


def test_rsa_keys_are_2048_bits() -> None:
    n = generate_key("RS256").public_jwk["n"]
    assert isinstance(n, str)
    assert len(n) == 342  # 256 bytes in unpadded base64url


@pytest.mark.parametrize("algorithm", ["HS256", "none", "RS512", "PS256", "EdDSA", "rs256"])
def test_algorithms_outside_the_allow_list_are_refused(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        check_algorithm(algorithm)
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        generate_key(algorithm)


def kid(jwk: dict[str, object] | None) -> str:
    return str((jwk or {}).get("kid", ""))


def signer_at(keys: Keys, now: datetime) -> str:
    """The kid a replica signs with at ``now`` (the pending key once its time has come)."""
    if keys.next_key is not None and now >= keys.next_key.signs_at:
        return kid(keys.next_key.public_jwk)
    return kid(keys.signing_key_pub)


def published(keys: Keys, now: datetime) -> set[str]:
    kids = {kid(keys.signing_key_pub)} if keys.signing_key_pub else set()
    if keys.next_key is not None:
        kids.add(kid(keys.next_key.public_jwk))
    return kids | {kid(v.public_jwk) for v in keys.verification_keys if v.expiry > now}


@pytest.fixture(scope="module")
def new_keys() -> list[NewKey]:
    return [generate_key("ES256") for _ in range(4)]


def test_the_first_key_signs_at_once(new_keys: list[NewKey]) -> None:
    assert next_change(Keys(), DELAY, SEEN) is None
    assert change_due(Keys(), NOW, DELAY, SEEN)
    keys = advance(Keys(), new_keys[0], now=NOW, schedule=SCHEDULE, seen=SEEN)
    assert keys.signing_key == new_keys[0].private_jwk
    assert keys.signing_key_pub == new_keys[0].public_jwk
    assert keys.verification_keys == ()
    assert keys.next_key is None
    assert keys.next_rotation == NOW + PERIOD
    # The next step is publishing the next key, DELAY before the rotation time.
    assert next_change(keys, DELAY, SEEN) == NOW + PERIOD - DELAY
    assert not change_due(keys, NOW + PERIOD - DELAY - timedelta(seconds=1), DELAY, SEEN)
    assert change_due(keys, NOW + PERIOD - DELAY, DELAY, SEEN)


def test_nothing_due_returns_the_same_object(new_keys: list[NewKey]) -> None:
    keys = advance(Keys(), new_keys[0], now=NOW, schedule=SCHEDULE, seen=SEEN)
    early = NOW + PERIOD - DELAY - timedelta(seconds=1)
    assert advance(keys, new_keys[1], now=early, schedule=SCHEDULE, seen=SEEN) is keys


def test_the_next_key_is_published_before_the_rotation_time(new_keys: list[NewKey]) -> None:
    first, second = new_keys[:2]
    keys = advance(Keys(), first, now=NOW, schedule=SCHEDULE, seen=SEEN)
    at = NOW + PERIOD - DELAY
    keys = advance(keys, second, now=at, schedule=SCHEDULE, seen=SEEN)
    assert keys.signing_key_pub == first.public_jwk  # still signing
    assert keys.next_key == PendingKey(second.private_jwk, second.public_jwk, NOW + PERIOD)
    assert published(keys, at) == {first.kid, second.kid}
    assert signer_at(keys, NOW + PERIOD - timedelta(microseconds=1)) == first.kid
    assert signer_at(keys, NOW + PERIOD) == second.kid
    # Another replica doing the same step finds it done.
    assert advance(keys, new_keys[2], now=at, schedule=SCHEDULE, seen=SEEN) is keys
    assert next_change(keys, DELAY, SEEN) == NOW + PERIOD


def test_a_replica_signs_only_once_it_published_the_key_for_the_whole_delay(
    new_keys: list[NewKey],
) -> None:
    # Another replica, its clock 5 s behind ours, published the key; we load it 1 s later.
    first, second = new_keys[:2]
    keys = advance(Keys(), first, now=NOW, schedule=SCHEDULE, seen=SEEN)
    theirs = NOW + PERIOD - DELAY
    keys = advance(keys, second, now=theirs, schedule=SCHEDULE, seen=SEEN)
    assert keys.next_key is not None
    ours = theirs + timedelta(seconds=5)
    assert signs_from(keys.next_key, DELAY, {}) is None  # not loaded: never signs
    loaded = ours + timedelta(seconds=1)
    seen = {second.kid: loaded}
    # Our clock reaches signs_at 5 s early; we wait until we published it for DELAY.
    assert signs_from(keys.next_key, DELAY, seen) == loaded + DELAY
    assert next_change(keys, DELAY, seen) == loaded + DELAY
    before = loaded + DELAY - timedelta(microseconds=1)
    assert advance(keys, new_keys[2], now=before, schedule=SCHEDULE, seen=seen) is keys
    promoted = advance(keys, new_keys[2], now=loaded + DELAY, schedule=SCHEDULE, seen=seen)
    assert promoted.signing_key_pub == second.public_jwk
    # Whoever loaded it at publication starts at signs_at.
    assert signs_from(keys.next_key, DELAY, {second.kid: theirs}) == NOW + PERIOD


def test_a_late_publication_still_waits_the_whole_delay(new_keys: list[NewKey]) -> None:
    # Every replica was down through the publication window: the current key signs on.
    first, second = new_keys[:2]
    keys = advance(Keys(), first, now=NOW, schedule=SCHEDULE, seen=SEEN)
    late = NOW + PERIOD + timedelta(hours=1)
    keys = advance(keys, second, now=late, schedule=SCHEDULE, seen=SEEN)
    assert keys.next_key is not None
    assert keys.next_key.signs_at == late + DELAY
    assert signer_at(keys, late + DELAY - timedelta(seconds=1)) == first.kid


def test_the_pending_key_is_promoted_and_the_old_one_retained(new_keys: list[NewKey]) -> None:
    first, second, third = new_keys[:3]
    keys = advance(Keys(), first, now=NOW, schedule=SCHEDULE, seen=SEEN)
    keys = advance(keys, second, now=NOW + PERIOD - DELAY, schedule=SCHEDULE, seen=SEEN)
    promoted_at = NOW + PERIOD + timedelta(seconds=7)
    keys = advance(keys, third, now=promoted_at, schedule=SCHEDULE, seen=SEEN)
    assert keys.signing_key_pub == second.public_jwk
    assert keys.next_key is None
    assert keys.verification_keys == (
        VerificationKey(public_jwk=first.public_jwk, expiry=promoted_at + RETENTION),
    )
    # The schedule counts from when the key started signing, not from the write.
    assert keys.next_rotation == NOW + 2 * PERIOD


def test_expired_verification_keys_are_dropped(new_keys: list[NewKey]) -> None:
    expired = VerificationKey({"kid": "old"}, NOW)
    keys = advance(
        Keys(verification_keys=(expired,)), new_keys[0], now=NOW, schedule=SCHEDULE, seen=SEEN
    )
    assert keys.verification_keys == ()


def test_a_period_shorter_than_the_delay_publishes_right_after_promotion(
    new_keys: list[NewKey],
) -> None:
    short = Schedule(rotation_period=DELAY / 2, propagation_delay=DELAY, retention=RETENTION)
    first, second, third = new_keys[:3]
    keys = advance(Keys(), first, now=NOW, schedule=short, seen=SEEN)
    keys = advance(keys, second, now=NOW, schedule=short, seen=SEEN)
    assert keys.next_key is not None
    assert keys.next_key.signs_at == NOW + DELAY
    keys = advance(keys, third, now=NOW + DELAY, schedule=short, seen=SEEN)
    assert keys.signing_key_pub == second.public_jwk
    assert keys.next_key is not None
    assert keys.next_key.signs_at == NOW + 2 * DELAY


def test_publish_now_signs_after_the_delay_and_keeps_a_pending_key(
    new_keys: list[NewKey],
) -> None:
    first, second, third = new_keys[:3]
    keys = advance(Keys(), first, now=NOW, schedule=SCHEDULE, seen=SEEN)
    asked = NOW + timedelta(minutes=1)
    keys = publish(keys, second, now=asked, schedule=SCHEDULE, seen=SEEN)
    assert keys.signing_key_pub == first.public_jwk
    assert keys.next_key == PendingKey(second.private_jwk, second.public_jwk, asked + DELAY)
    # Asking again keeps the key already published: it signs no later than a new one.
    assert (
        publish(keys, third, now=asked + timedelta(seconds=1), schedule=SCHEDULE, seen=SEEN) is keys
    )
    # Once it signs, asking again promotes it and publishes the next.
    later = asked + DELAY
    keys = publish(keys, third, now=later, schedule=SCHEDULE, seen=SEEN)
    assert keys.signing_key_pub == second.public_jwk
    assert keys.next_key is not None
    assert (kid(keys.next_key.public_jwk), keys.next_key.signs_at) == (third.kid, later + DELAY)


def test_publish_on_an_empty_store_installs_the_first_key(new_keys: list[NewKey]) -> None:
    keys = publish(Keys(), new_keys[0], now=NOW, schedule=SCHEDULE, seen=SEEN)
    assert keys.signing_key_pub == new_keys[0].public_jwk
    assert keys.next_key is None


@pytest.mark.parametrize("keep_retired", [True, False])
def test_replace_drops_the_current_and_pending_keys(
    new_keys: list[NewKey], keep_retired: bool
) -> None:
    first, second, third, fourth = new_keys
    keys = advance(Keys(), first, now=NOW, schedule=SCHEDULE, seen=SEEN)
    keys = publish(keys, second, now=NOW, schedule=SCHEDULE, seen=SEEN)
    keys = advance(keys, third, now=NOW + DELAY, schedule=SCHEDULE, seen=SEEN)  # second signs
    keys = publish(keys, third, now=NOW + DELAY, schedule=SCHEDULE, seen=SEEN)  # third pending
    at = NOW + DELAY + timedelta(seconds=1)
    assert published(keys, at) == {first.kid, second.kid, third.kid}
    keys = replace(keys, fourth, now=at, schedule=SCHEDULE, keep_retired=keep_retired)
    assert signer_at(keys, at) == fourth.kid
    assert keys.next_key is None
    assert keys.next_rotation == at + PERIOD
    assert published(keys, at) == ({fourth.kid, first.kid} if keep_retired else {fourth.kid})


# What "publish first, sign later" promises, over any sequence of steps by replicas
# whose steps land in any order: a key signs only once it has been published for the
# propagation delay, and stays published for the retention after it last signed.
STEP = st.sampled_from(["advance", "advance", "advance", "publish"])
GAPS = st.integers(min_value=0, max_value=int((PERIOD + DELAY).total_seconds()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(STEP, GAPS), min_size=1, max_size=40))
def test_a_key_signs_only_after_the_delay_and_verifies_for_the_retention(
    steps: list[tuple[str, int]],
) -> None:
    pool = [
        NewKey(f"k{n}", {"kid": f"k{n}", "d": "x"}, {"kid": f"k{n}"}) for n in range(len(steps) + 2)
    ]
    fresh = iter(pool)
    now = NOW
    keys = advance(Keys(), next(fresh), now=now, schedule=SCHEDULE, seen={})
    first_seen: dict[str, datetime] = {kid(keys.signing_key_pub): now - DELAY}
    last_signed: dict[str, datetime] = {}

    def sign(moment: datetime) -> None:
        signer = signer_at(keys, moment)
        assert moment - first_seen[signer] >= DELAY, signer
        last_signed[signer] = moment

    for action, gap in steps:
        if gap:  # tokens are signed all the time: the moment before this step too
            sign(now + timedelta(seconds=gap) - timedelta(microseconds=1))
        now += timedelta(seconds=gap)
        step = advance if action == "advance" else publish
        before = published(keys, now)
        keys = step(keys, next(fresh), now=now, schedule=SCHEDULE, seen=first_seen)
        after = published(keys, now)
        for new in after - before:
            first_seen.setdefault(new, now)
        for gone in before - after:
            assert now >= last_signed.get(gone, now) + RETENTION, gone
        sign(now)
