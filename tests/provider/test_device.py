"""The device flow (RFC 8628) without HTTP: user codes, the device authorization request,
the person's sign-in through the code flow, and the polling state machine."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from passgate.clock import FrozenClock
from passgate.connectors.base import Identity
from passgate.connectors.local import LocalConnector
from passgate.keys import KeyManager
from passgate.oauth2.errors import (
    AuthorizationPendingError,
    ExpiredTokenError,
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
    OAuthError,
    SlowDownError,
    UnsupportedGrantTypeError,
)
from passgate.oauth2.params import Params
from passgate.provider.authorize import authorize
from passgate.provider.client_secrets import ClientSecrets
from passgate.provider.connectors import ConnectorEntry, ConnectorRegistry
from passgate.provider.device import (
    USER_CODE_ALPHABET,
    DeviceAuthorization,
    DeviceDeniedError,
    UserCodeError,
    new_user_code,
    normalize_user_code,
)
from passgate.provider.directory import Directory
from passgate.provider.issue import TokenResponse
from passgate.provider.limits import LoginLimiter
from passgate.provider.login import finish_login, issue_code
from passgate.provider.revocation import Revoker
from passgate.provider.revocation_cache import RevocationCache
from passgate.provider.settings import (
    AUTHORIZATION_CODE,
    LoginLimits,
    ProviderSettings,
)
from passgate.provider.token import TokenEndpoint
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Client
from passgate.tokens.issuer import TokenIssuer

pytestmark = pytest.mark.anyio

ISSUER = "https://sso.test/dex"
PUBLIC = Client(id="kubectl", public=True, redirect_uris=("http://localhost:8000",))
SECRET = Client(id="app", secret="s3cret", redirect_uris=("https://app/cb",))
BROWSER = "b" * 43
IDENTITY = Identity(
    user_id="u1", username="jane", email="jane@example.com", email_verified=True,
    groups=("admins", "devs"),
)  # fmt: skip


class Flow:
    """A TokenEndpoint (and so its DeviceFlow) on memory storage and a frozen clock."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.clock = FrozenClock()
        self.settings = settings
        self.storage = MemoryStorage()
        self.directory = Directory(self.storage, [PUBLIC, SECRET], [])
        local = LocalConnector(self.directory.get_password)
        self.connectors = ConnectorRegistry([ConnectorEntry("local", "local", "Email", local)])
        self.keys = KeyManager(
            self.storage, self.clock, rotation_period=timedelta(hours=6),
            id_token_lifetime=timedelta(hours=1),
        )  # fmt: skip
        issuer = TokenIssuer(ISSUER, self.keys, self.clock, timedelta(hours=1))
        self.endpoint = TokenEndpoint(
            directory=self.directory, connectors=self.connectors, issuer=issuer,
            settings=settings, clock=self.clock,
            limiter=LoginLimiter(self.storage, self.clock, LoginLimits()),
            revoker=Revoker(
                self.storage, self.clock, RevocationCache(self.storage, self.clock),
                issuer=issuer,
            ),
            client_secrets=ClientSecrets(b"pepper" * 6, self.clock),
        )  # fmt: skip
        self.device = self.endpoint.device

    async def start(self, client: Client = PUBLIC, **form: str) -> DeviceAuthorization:
        pairs = [("client_id", client.id), ("scope", "openid email groups offline_access")]
        if client.secret:
            pairs.append(("client_secret", client.secret))
        pairs = [(k, v) for k, v in pairs if k not in form] + list(form.items())
        return await self.device.start(Params(pairs), None)

    async def sign_in(self, user_code: str, browser: str = BROWSER) -> tuple[str, str]:
        """What /device/auth/verify_code, /auth, the login and the approval do: the
        ``state`` and ``code`` that reach /device/callback."""
        pending = await self.device.find(user_code)
        params = self.device.sign_in_params(pending, browser)
        result = await authorize(
            Params(params.items()), directory=self.directory, connectors=self.connectors,
            settings=self.settings, clock=self.clock,
        )  # fmt: skip
        entry = self.connectors.for_client(result.client, AUTHORIZATION_CODE)[0]
        request = await finish_login(self.storage, result.request, entry, IDENTITY, self.clock)
        location = await issue_code(self.storage, request, self.settings, self.clock)
        assert location.startswith(f"{ISSUER}/device/callback?")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return query["state"], query["code"]

    async def poll(self, device_code: str, client: Client = PUBLIC, **extra: str) -> TokenResponse:
        pairs = [("grant_type", "urn:ietf:params:oauth:grant-type:device_code")]
        pairs += [("device_code", device_code), *extra.items()]
        return await self.device.poll(client, Params(pairs))


@pytest.fixture
async def flow() -> Flow:
    built = Flow(ProviderSettings(issuer=ISSUER))
    await built.keys.start()
    return built


# -- user codes ------------------------------------------------------------------------
def test_user_codes_are_eight_consonants_shown_as_two_groups() -> None:
    codes = {new_user_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 9
        assert code[4] == "-"
        assert set(code.replace("-", "")) <= set(USER_CODE_ALPHABET)
    assert not set("AEIOUY0123456789") & set(USER_CODE_ALPHABET)  # RFC 8628 §6.1


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [("BCDF-GHJK", "BCDF-GHJK"), ("bcdfghjk", "BCDF-GHJK"), (" bcdf-Ghjk ", "BCDF-GHJK"),
     ("BC-DF-GH-JK", "BCDF-GHJK"), ("BCDF-GHJ", None), ("BCDF-GHJKL", None),
     ("ABCD-EFGH", None), ("BCDF-GHJ1", None), ("", None), ("BCDF-GHJ\u00df", None),
     ("B" * 40, None)],
)  # fmt: skip
def test_user_codes_compare_case_insensitively_without_the_dash(
    typed: str, canonical: str | None
) -> None:
    assert normalize_user_code(typed) == canonical


# -- the device authorization request --------------------------------------------------
async def test_start_answers_the_rfc_8628_fields(flow: Flow) -> None:
    started = await flow.start()
    body = started.to_dict()
    assert set(body) == {"device_code", "user_code", "verification_uri",
                         "verification_uri_complete", "expires_in", "interval"}  # fmt: skip
    assert len(started.device_code) >= 43  # 32 random bytes, base64url
    assert started.verification_uri == f"{ISSUER}/device"
    assert started.verification_uri_complete == f"{ISSUER}/device?user_code={started.user_code}"
    assert started.expires_in == 300
    assert started.interval == 5
    # Only the device code's hash is stored.
    request = await flow.storage.get_device_request(started.user_code)
    assert started.device_code not in request.device_code
    assert request.scopes == ("openid", "email", "groups", "offline_access")


async def test_start_authenticates_like_the_token_endpoint(flow: Flow) -> None:
    with pytest.raises(InvalidClientError):
        await flow.start(SECRET, client_secret="wrong")
    with pytest.raises(InvalidClientError):
        await flow.device.start(Params([("client_id", SECRET.id)]), None)
    with pytest.raises(InvalidClientError):
        await flow.start(Client(id="nobody", public=True))
    assert (await flow.start(SECRET)).user_code


@pytest.mark.parametrize("scope", ["email", "openid admin", "openid audience:server:client_id:app"])
async def test_start_checks_scopes_like_auth(flow: Flow, scope: str) -> None:
    with pytest.raises(InvalidScopeError):
        await flow.start(scope=scope)


async def test_start_defaults_to_openid_and_respects_disabled_grant(flow: Flow) -> None:
    started = await flow.device.start(Params([("client_id", PUBLIC.id)]), None)
    assert (await flow.storage.get_device_request(started.user_code)).scopes == ("openid",)
    off = Flow(ProviderSettings(issuer=ISSUER, grant_types=(AUTHORIZATION_CODE,)))
    with pytest.raises(UnsupportedGrantTypeError):
        await off.start()


# -- the person ------------------------------------------------------------------------
async def test_find_accepts_the_code_as_typed_and_refuses_unknown_or_expired(flow: Flow) -> None:
    started = await flow.start()
    pending = await flow.device.find(started.user_code.lower().replace("-", ""))
    assert pending.client == PUBLIC
    assert pending.user_code == started.user_code
    with pytest.raises(UserCodeError, match="not a valid code"):
        await flow.device.find("hello")
    with pytest.raises(UserCodeError, match="unknown"):
        await flow.device.find("BBBB-BBBB")
    flow.clock.advance(timedelta(minutes=5, seconds=1))
    with pytest.raises(UserCodeError, match="expired"):
        await flow.device.find(started.user_code)


async def test_form_token_and_state_are_bound_to_the_browser(flow: Flow) -> None:
    pending = await flow.device.find((await flow.start()).user_code)
    token = pending.form_token(BROWSER)
    assert pending.form_token_matches(BROWSER, token)
    assert not pending.form_token_matches("c" * 43, token)
    assert not pending.form_token_matches("", token)
    params = flow.device.sign_in_params(pending, BROWSER)
    assert params["redirect_uri"] == f"{ISSUER}/device/callback"
    assert params["code_challenge_method"] == "S256"
    assert pending.verifier() not in params.values()
    state, code = await flow.sign_in(pending.user_code)
    with pytest.raises(UserCodeError, match="another browser"):
        await flow.device.complete(state, code, "c" * 43)
    with pytest.raises(UserCodeError, match="another browser"):
        await flow.device.complete(pending.user_code + ".forged", code, BROWSER)


# -- polling ---------------------------------------------------------------------------
async def test_whole_flow_issues_what_the_code_flow_would_once(flow: Flow) -> None:
    started = await flow.start()
    with pytest.raises(AuthorizationPendingError):
        await flow.poll(started.device_code)
    state, code = await flow.sign_in(started.user_code)
    assert await flow.device.complete(state, code, BROWSER) == PUBLIC
    flow.clock.advance(timedelta(seconds=5))
    response = await flow.poll(started.device_code)
    body = response.to_dict()
    assert body["refresh_token"]
    assert body["expires_in"] == 3600
    claims = await flow.keys.verify(str(body["id_token"]))
    assert claims["aud"] == "kubectl"
    assert claims["email"] == "jane@example.com"
    assert claims["groups"] == ["admins", "devs"]
    assert "c_hash" not in claims
    with pytest.raises(InvalidGrantError, match="already used"):
        await flow.poll(started.device_code)
    # The code was spent at the callback: a replay finds nothing to redeem.
    with pytest.raises(UserCodeError, match="already used"):
        await flow.device.complete(state, code, BROWSER)


async def test_slow_down_adds_five_seconds_for_all_later_polls(flow: Flow) -> None:
    device_code = (await flow.start()).device_code
    with pytest.raises(AuthorizationPendingError):
        await flow.poll(device_code)  # the first poll may come at once
    flow.clock.advance(timedelta(seconds=2))
    with pytest.raises(SlowDownError, match="10 seconds"):
        await flow.poll(device_code)
    flow.clock.advance(timedelta(seconds=5))
    with pytest.raises(SlowDownError, match="15 seconds"):
        await flow.poll(device_code)
    flow.clock.advance(timedelta(seconds=15))
    with pytest.raises(AuthorizationPendingError):
        await flow.poll(device_code)
    flow.clock.advance(timedelta(seconds=14, milliseconds=600))  # within the jitter leeway
    with pytest.raises(AuthorizationPendingError):
        await flow.poll(device_code)


async def test_expiry_denial_and_the_wrong_client(flow: Flow) -> None:
    started = await flow.start()
    with pytest.raises(InvalidGrantError, match="another client"):
        await flow.poll(started.device_code, SECRET)
    with pytest.raises(InvalidGrantError, match="invalid"):
        await flow.poll("not-a-device-code")
    state, _code = await flow.sign_in(started.user_code)
    assert await flow.device.deny(state, BROWSER) == PUBLIC
    with pytest.raises(DeviceDeniedError) as denied:
        await flow.poll(started.device_code)
    assert denied.value.error == "access_denied"
    assert denied.value.status_code == 400
    flow.clock.advance(timedelta(minutes=5, seconds=1))
    with pytest.raises(ExpiredTokenError):
        await flow.poll(started.device_code)


async def test_an_approved_but_expired_device_code_gives_expired_token(flow: Flow) -> None:
    started = await flow.start()
    state, code = await flow.sign_in(started.user_code)
    await flow.device.complete(state, code, BROWSER)
    flow.clock.advance(timedelta(minutes=6))
    with pytest.raises(ExpiredTokenError):
        await flow.poll(started.device_code)


async def test_pkce_binds_the_polls_when_the_device_asked_for_it(flow: Flow) -> None:
    verifier = "v" * 50
    started = await flow.start(code_challenge=verifier, code_challenge_method="plain")
    state, code = await flow.sign_in(started.user_code)
    await flow.device.complete(state, code, BROWSER)
    with pytest.raises(InvalidGrantError):
        await flow.poll(started.device_code)
    with pytest.raises(InvalidGrantError):
        await flow.poll(started.device_code, code_verifier="w" * 50)
    assert await flow.poll(started.device_code, code_verifier=verifier)


async def test_every_failure_is_one_oauth_error_type(flow: Flow) -> None:
    for error in (UserCodeError("x"), DeviceDeniedError("x")):
        assert isinstance(error, OAuthError)
