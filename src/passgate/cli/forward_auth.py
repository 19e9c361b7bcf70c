"""The forward-auth part of the composition root: the ``forwardAuth`` section turned into
the built-in client, its redirect rule and the endpoints' services."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from passgate.config import Config
from passgate.config.forward_auth import FORWARD_AUTH_CLIENT_ID
from passgate.forwardauth import ForwardAuth
from passgate.forwardauth.gate import Gate
from passgate.forwardauth.people import SessionCache
from passgate.forwardauth.policy import ForwardAuthPolicy, HostRule, Requirements
from passgate.forwardauth.seal import Sealer, load_key
from passgate.forwardauth.signin import SignIn
from passgate.keys.encryption import KeyRing
from passgate.provider.revocation_cache import RevocationCache
from passgate.server.services import Services
from passgate.storage.models import Client

__all__ = [
    "build_forward_auth",
    "forward_auth_client",
    "forward_auth_policy",
    "forward_auth_settings",
]


def forward_auth_client() -> Client:
    """The built-in public client forward-auth signs people in with (PKCE, no secret);
    its callbacks follow ``forward_auth_settings``' rule, not a list."""
    return Client(id=FORWARD_AUTH_CLIENT_ID, public=True, name="Internal sites")


def forward_auth_policy(config: Config) -> ForwardAuthPolicy:
    section = config.forward_auth
    assert section is not None
    https = urlsplit(config.issuer).scheme == "https"
    return ForwardAuthPolicy(
        issuer=config.issuer,
        cookie_name=section.cookie_name,
        cookie_domain=section.cookie_domain,
        cookie_secure=https if section.cookie_secure is None else section.cookie_secure,
        lifetime=section.lifetime,
        redirect_domains=tuple(section.allowed_redirect_domains),
        pass_authorization=section.pass_authorization,
        pass_access_token=section.pass_access_token,
        user_claim=section.user_claim,
        refresh_interval=section.refresh_interval or config.expiry.id_tokens,
        hosts=tuple(
            HostRule(
                host=rule.host,
                requirements=Requirements(
                    tuple(rule.allowed_groups),
                    tuple(rule.allowed_emails),
                    tuple(rule.allowed_email_domains),
                ),
                skip_auth_paths=tuple(rule.skip_auth_paths),
                pass_authorization=rule.pass_authorization,
                pass_access_token=rule.pass_access_token,
            )
            for rule in section.hosts
        ),
        bearer_clients=tuple(section.bearer_clients),
    )


def forward_auth_settings(config: Config) -> dict[str, Any]:
    """The provider settings forward-auth adds: its callback rule, no approval screen."""
    if config.forward_auth is None:
        return {}
    policy = forward_auth_policy(config)
    return {
        "redirect_rules": {FORWARD_AUTH_CLIENT_ID: policy.is_callback},
        "first_party_clients": frozenset({FORWARD_AUTH_CLIENT_ID}),
    }


async def build_forward_auth(
    config: Config,
    policy: ForwardAuthPolicy,
    *,
    services: Services,
    revocations: RevocationCache,
    ring: KeyRing,
) -> ForwardAuth:
    sealer = Sealer(await load_key(services.storage, services.clock, ring))
    browser = services.sso.browser
    people = SessionCache(
        services.sso, revocations, services.clock,
        client_id=FORWARD_AUTH_CLIENT_ID, refresh_interval=policy.refresh_interval,
    )  # fmt: skip
    gate = Gate(
        policy, sealer, people, services.verifier, services.issuer, services.clock,
        client_id=FORWARD_AUTH_CLIENT_ID,
    )  # fmt: skip
    sign_in = SignIn(
        gate, sealer, client=forward_auth_client(),
        redeem=services.token_endpoint.redeem_code, storage=services.storage, browser=browser,
        revoker=services.revoker, clock=services.clock,
    )  # fmt: skip
    return ForwardAuth(gate, sign_in)
