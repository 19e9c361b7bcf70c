"""What the web layer is handed by the composition root (``passgate.cli.compose``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.templating import Jinja2Templates

from passgate.admin.api import AdminAPI
from passgate.clock import Clock
from passgate.forwardauth import ForwardAuth
from passgate.keys import KeyManager
from passgate.kube.kubeconfig import ClusterEntry
from passgate.kube.tokenreview import TokenReviewer
from passgate.provider.account import Account
from passgate.provider.audit import AuditLog
from passgate.provider.connectors import ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.introspection import Introspector
from passgate.provider.limits import LoginLimiter
from passgate.provider.revocation import Revoker
from passgate.provider.sessions import Sessions
from passgate.provider.settings import ProviderSettings
from passgate.provider.sso import SingleSignOn
from passgate.provider.token import TokenEndpoint
from passgate.provider.verify import TokenVerifier
from passgate.server.metrics import Metrics
from passgate.storage.base import Storage
from passgate.tokens.issuer import TokenIssuer


@dataclass(frozen=True, slots=True)
class WebSettings:
    """How pages and cookies behave (``web`` and ``frontend`` config)."""

    issuer_path: str = ""
    secure_cookies: bool = False
    allowed_origins: tuple[str, ...] = ()
    allowed_headers: tuple[str, ...] = ()
    extra_headers: dict[str, str] = field(default_factory=dict)
    trusted_proxies: tuple[str, ...] = ()
    remote_ip_header: str = ""
    issuer_name: str = "Passgate"
    logo_url: str = ""
    session_cookie: str = "passgate_session"  # the browser session cookie's name
    remember_me_default: bool = False  # the login page's "remember me" box starts ticked


@dataclass(slots=True)
class Health:
    """What readiness reports beyond storage: a stopping server is not ready."""

    draining: bool = False


@dataclass(frozen=True, slots=True)
class Services:
    settings: ProviderSettings
    web: WebSettings
    storage: Storage
    directory: Directory
    connectors: ConnectorRegistry
    keys: KeyManager
    issuer: TokenIssuer
    token_endpoint: TokenEndpoint
    limiter: LoginLimiter
    clock: Clock
    templates: Jinja2Templates
    metrics: Metrics
    # kubernetes.clusters for the /kubeconfig page (empty: no page) and its JSON listing.
    kube_clusters: tuple[ClusterEntry, ...]
    publish_clusters: bool
    # Sessions, revocation and the one token check (provider/sessions, revocation, verify);
    # ``audit`` is the one audit log every part records into.
    audit: AuditLog
    sessions: Sessions
    revoker: Revoker
    verifier: TokenVerifier
    introspector: Introspector
    token_review: TokenReviewer
    # Browser single sign-on (provider/sso, provider/browser).
    sso: SingleSignOn
    # The account page's operations (provider/account).
    account: Account
    # The admin API's services (``passgate.admin``); None without an ``admin`` section.
    admin: AdminAPI | None = None
    # Forward-auth for reverse proxies; None without a ``forwardAuth`` section.
    forward_auth: ForwardAuth | None = None
    health: Health = field(default_factory=Health)
