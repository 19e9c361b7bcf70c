"""The composition root: the one place that turns a ``Config`` into running parts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette

from passgate.admin.api import AdminAPI, build_admin
from passgate.admin.auth import AdminTokenHash, claims_from
from passgate.cli.forward_auth import (
    build_forward_auth,
    forward_auth_policy,
    forward_auth_settings,
)
from passgate.cli.static_config import open_connectors, static_clients, static_passwords
from passgate.clock import Clock, system_clock
from passgate.config import Config
from passgate.config.builtin import PORTAL_CLIENT_ID
from passgate.keys import KeyManager
from passgate.keys.encryption import KeyRing
from passgate.kube import apiserver
from passgate.kube.kubeconfig import clusters_from_config
from passgate.kube.tokenreview import ClusterMapping, TokenReviewer
from passgate.provider.account import Account
from passgate.provider.audit import AuditLog
from passgate.provider.backchannel import BackchannelNotifier
from passgate.provider.browser import BrowserSessions, SessionPolicy
from passgate.provider.client_secrets import ClientSecrets, load_client_secrets
from passgate.provider.directory import Directory
from passgate.provider.introspection import Introspector
from passgate.provider.limits import LoginLimiter
from passgate.provider.revocation import Revoker
from passgate.provider.revocation_cache import RevocationCache
from passgate.provider.sessions import Sessions
from passgate.provider.settings import IMPLEMENTED_GRANTS, ProviderSettings, RefreshPolicy
from passgate.provider.sso import SingleSignOn
from passgate.provider.token import TokenEndpoint
from passgate.provider.verify import TokenVerifier
from passgate.server.app import create_app, create_telemetry_app, issuer_path, templates
from passgate.server.metrics import Metrics
from passgate.server.services import Services, WebSettings
from passgate.storage.base import Storage
from passgate.storage.factory import open_storage
from passgate.storage.gc import GarbageCollector
from passgate.tokens.issuer import TokenIssuer

GC_INTERVAL = timedelta(minutes=5)


@dataclass
class Runtime:
    """Everything ``serve`` runs: the two ASGI apps and the background loops."""

    services: Services
    app: Starlette
    telemetry: Starlette
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)

    notifier: BackchannelNotifier | None = None

    async def close(self) -> None:
        if self.notifier is not None:
            await self.notifier.close()
        await self.services.audit.close()  # what waited for the database: stored or logged
        await self.services.connectors.close()
        await self.services.storage.close()


def provider_settings(config: Config) -> ProviderSettings:
    refresh = config.expiry.refresh_tokens
    oauth2 = config.oauth2
    extra = forward_auth_settings(config)
    # Passgate's own pages ask nobody's consent to sign in to Passgate.
    extra["first_party_clients"] = frozenset({PORTAL_CLIENT_ID}) | extra.get(
        "first_party_clients", frozenset()
    )
    return ProviderSettings(
        issuer=config.issuer,
        id_token_lifetime=config.expiry.id_tokens,
        auth_request_lifetime=config.expiry.auth_requests,
        device_request_lifetime=config.expiry.device_requests,
        refresh=RefreshPolicy(
            reuse_interval=refresh.reuse_interval,
            valid_if_not_used_for=refresh.valid_if_not_used_for,
            absolute_lifetime=refresh.absolute_lifetime,
            disable_rotation=refresh.disable_rotation,
        ),
        response_types=tuple(oauth2.response_types),
        # Only what this version implements is enabled and advertised in discovery.
        grant_types=tuple(g for g in oauth2.grant_types if g in IMPLEMENTED_GRANTS),
        skip_approval_screen=oauth2.skip_approval_screen,
        always_show_login_screen=oauth2.always_show_login_screen,
        password_connector=oauth2.password_connector or "",
        pkce_enforce=oauth2.pkce.enforce,
        pkce_methods=tuple(oauth2.pkce.code_challenge_methods_supported),
        **extra,
    )


def token_reviewer(config: Config) -> TokenReviewer:
    """The TokenReview webhook maps tokens as each cluster's apiserver-config says."""
    kube = config.kubernetes
    mappings = [
        ClusterMapping.of(apiserver.settings_for(config, cluster.name, ca_file=""))
        for cluster in kube.clusters
    ]
    review = kube.token_review
    return TokenReviewer(mappings, secret=review.secret, enabled=review.enabled)


def admin_api(
    config: Config,
    *,
    storage: Storage,
    clock: Clock,
    keys: KeyManager,
    audit: AuditLog,
    revoker: Revoker,
    verifier: TokenVerifier,
    directory: Directory,
    client_secrets: ClientSecrets,
) -> AdminAPI | None:
    """The admin API's services, or None (the API answers 404) without ``admin``."""
    if config.admin is None:
        return None
    return build_admin(
        storage=storage, clock=clock, keys=keys, audit=audit, revoker=revoker,
        directory=directory, client_secrets=client_secrets,
        tokens=[AdminTokenHash(token.name, token.hash) for token in config.admin.tokens],
        groups=config.admin.groups, verify=claims_from(verifier),
    )  # fmt: skip


def web_settings(config: Config) -> WebSettings:
    web = config.web
    remote = web.client_remote_ip
    https = urlsplit(config.issuer).scheme == "https"
    return WebSettings(
        issuer_path=issuer_path(config.issuer),
        secure_cookies=https,
        allowed_origins=tuple(web.allowed_origins),
        allowed_headers=tuple(web.allowed_headers),
        extra_headers=web.headers.as_dict(),
        trusted_proxies=tuple(remote.trusted_proxies) if remote else (),
        remote_ip_header=remote.header if remote and remote.header else "",
        issuer_name=(
            config.frontend.issuer if config.frontend and config.frontend.issuer else "Passgate"
        ),
        logo_url=(config.frontend.logo_url if config.frontend and config.frontend.logo_url else ""),
        session_cookie=config.sessions.cookie_name_for(https),
        remember_me_default=config.sessions.remember_me_checked_by_default,
    )


def session_policy(config: Config) -> SessionPolicy:
    sessions = config.sessions
    return SessionPolicy(
        absolute_lifetime=sessions.absolute_lifetime,
        idle_timeout=sessions.valid_if_not_used_for,
        share_by_default=sessions.sso_shared_with_default == "all",
        # A Dex client refreshes (and the connector is asked again) when its ID token
        # expires; a browser session asks as often.
        identity_lifetime=config.expiry.id_tokens,
    )


async def build(
    config: Config, *, clock: Clock = system_clock, storage: Storage | None = None
) -> Runtime:
    """Open storage (unless given) and wire the apps; the caller runs ``background`` loops.
    Storage opened here is closed again when wiring fails (a wrong encryption key, an
    outage mid-start): nothing is left holding the process open."""
    if storage is not None:
        return await _wire(config, clock, storage)
    opened = await open_storage(config.storage.type, config.storage.options())
    try:
        return await _wire(config, clock, opened)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await opened.close()
        raise


async def _wire(config: Config, clock: Clock, storage: Storage) -> Runtime:
    ring = KeyRing(*config.encryption_keys())
    signer = config.local_signer()
    keys = KeyManager(
        storage,
        clock,
        rotation_period=config.key_rotation_period(),
        id_token_lifetime=config.expiry.id_tokens,
        algorithm=config.signing_algorithm(),
        refresh_interval=signer.keys_reload_interval,
        jwks_max_age=signer.jwks_max_age,
        propagation_delay=signer.effective_propagation_delay(),
        ring=ring,
    )
    await keys.start()
    client_secrets = await load_client_secrets(storage, ring, clock)
    await client_secrets.upgrade_stored(storage)
    issuer = TokenIssuer(config.issuer, keys, clock, config.expiry.id_tokens)
    directory = Directory(storage, static_clients(config), static_passwords(config))
    connectors = open_connectors(config, directory)
    settings = provider_settings(config)
    limiter = LoginLimiter(storage, clock, settings.login_limits)
    audit = AuditLog(storage, clock, log_events=config.audit.log)
    sessions = Sessions(
        storage, clock, token_lifetime=settings.id_token_lifetime, policy=settings.refresh,
        audit=audit,
    )  # fmt: skip
    revocations = RevocationCache(storage, clock, on_revoke_all=keys.refresh)
    await revocations.load()
    notifier = BackchannelNotifier(issuer=config.issuer, keys=keys, clock=clock, audit=audit)
    revoker = Revoker(
        storage, clock, revocations, issuer=issuer, audit=audit, keys=keys,
        directory=directory, notifier=notifier,
        credential_lifetime=config.forward_auth.lifetime if config.forward_auth else None,
    )  # fmt: skip
    verifier = TokenVerifier(issuer, revocations)
    sso = SingleSignOn(
        browser=BrowserSessions(storage, clock, session_policy(config)),
        directory=directory, connectors=connectors, settings=settings, issuer=issuer,
        revoker=revoker, storage=storage, clock=clock,
    )  # fmt: skip
    services = Services(
        settings=settings,
        web=web_settings(config),
        storage=storage,
        directory=directory,
        connectors=connectors,
        keys=keys,
        issuer=issuer,
        token_endpoint=TokenEndpoint(
            directory=directory,
            connectors=connectors,
            issuer=issuer,
            settings=settings,
            clock=clock,
            limiter=limiter,
            sessions=sessions,
            revoker=revoker,
            client_secrets=client_secrets,
            audit=audit,
        ),
        limiter=limiter,
        clock=clock,
        templates=templates(),
        metrics=Metrics(),
        kube_clusters=tuple(clusters_from_config(config)),
        publish_clusters=config.kubernetes.publish_clusters,
        audit=audit,
        sessions=sessions,
        revoker=revoker,
        verifier=verifier,
        introspector=Introspector(
            storage, clock, verifier, sessions, issuer=config.issuer, policy=settings.refresh
        ),
        token_review=token_reviewer(config),
        sso=sso,
        account=Account(
            storage,
            clock,
            revoker=revoker,
            directory=directory,
            connectors=connectors,
            issuer=issuer,
            limiter=limiter,
            audit=audit,
            own_client=PORTAL_CLIENT_ID,
        ),
        admin=admin_api(
            config,
            storage=storage,
            clock=clock,
            keys=keys,
            audit=audit,
            revoker=revoker,
            verifier=verifier,
            directory=directory,
            client_secrets=client_secrets,
        ),
    )
    gc = GarbageCollector(
        storage, clock, interval=GC_INTERVAL, audit_retention=config.audit.retention
    )
    if config.forward_auth is not None:
        services = dataclasses.replace(
            services,
            forward_auth=await build_forward_auth(
                config,
                forward_auth_policy(config),
                services=services,
                revocations=revocations,
                ring=ring,
            ),
        )
    return Runtime(
        services=services,
        app=create_app(services),
        telemetry=create_telemetry_app(services),
        background=[keys.run_forever, gc.run_forever, revocations.run_forever, audit.run_forever],
        notifier=notifier,
    )
