"""The ``saml`` connector: Passgate as a SAML 2.0 service provider (Dex ``connector/saml``).

Sign-in posts an AuthnRequest to ``ssoURL``; the IdP posts a Response back to
``redirectURI``. The request's ID is saved with the sign-in request, so only an answer
to it (``InResponseTo``) is accepted; the answer must be signed with a key of the
``ca``/``caData`` certificates, be for us (Audience, Destination, Recipient), be
current (with a bounded clock skew) and not be used twice.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
import structlog
from cryptography.hazmat.primitives.serialization import Encoding

from passgate.clock import Clock, system_clock
from passgate.config.connectors.saml import SAMLConfig, parse_pem_certificates
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    PostConnector,
    Scopes,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.saml.metadata import sp_metadata
from passgate.connectors.saml.replay import ReplayCache
from passgate.connectors.saml.request import authn_request, new_request_id, post_encode
from passgate.connectors.saml.response import (
    Expected,
    ResponseError,
    VerifiedAssertion,
    decode,
    read_response,
)
from passgate.connectors.saml.signature import (
    SignatureError,
    XMLSecUnavailableError,
    find_xmlsec1,
)

__all__ = ["ALLOWED_CLOCK_SKEW", "SAMLConnector"]

log = structlog.get_logger("passgate.connectors.saml")

#: Dex's ``allowedClockDrift``: how far the IdP's clock may be from ours.
ALLOWED_CLOCK_SKEW = timedelta(seconds=30)


class SAMLConnector(PostConnector):
    def __init__(
        self,
        config: SAMLConfig,
        connector_id: str = "saml",
        *,
        clock: Clock = system_clock,
        clock_skew: timedelta = ALLOWED_CLOCK_SKEW,
        replays: ReplayCache | None = None,
    ) -> None:
        self._config = config
        self._id = connector_id
        self._clock = clock
        self._skew = clock_skew
        self._replays = replays or ReplayCache()
        self._certificates: list[bytes] | None = None
        if config.insecure_skip_signature_validation:
            log.warning(
                "SAML signature validation is off (insecureSkipSignatureValidation)",
                connector=connector_id,
            )

    async def _trusted(self) -> list[bytes] | None:
        """The configured certificates as PEM, one per entry (read once the file reads
        well; a bad file is an error on each sign-in until it is fixed)."""
        if self._config.insecure_skip_signature_validation:
            return None
        if self._certificates is not None:
            return self._certificates
        source = "caData"
        data = self._config.ca_data
        if self._config.ca:
            source = f"the ca file {self._config.ca!r}"
            try:
                data = await anyio.Path(self._config.ca).read_bytes()
            except OSError as error:
                raise ConnectorError(
                    f"{source} cannot be read ({error.strerror or error}): "
                    "the identity provider's signatures cannot be checked"
                ) from None
        try:
            certificates = parse_pem_certificates(data)
        except ValueError as error:
            raise ConnectorError(f"{source} {error}: fix the connector's configuration") from None
        self._certificates = [cert.public_bytes(Encoding.PEM) for cert in certificates]
        return self._certificates

    def _xmlsec1(self) -> str:
        try:
            return find_xmlsec1()
        except XMLSecUnavailableError as error:
            raise ConnectorError(str(error)) from None

    async def post_login(
        self, scopes: Scopes, callback_url: str, state: str
    ) -> tuple[str, str, bytes]:
        # A misconfiguration shows now, before the person is sent to the IdP for nothing.
        if await self._trusted() is not None:
            self._xmlsec1()
        request_id = new_request_id()
        xml = authn_request(self._config, request_id, self._clock())
        return self._config.sso_url, post_encode(xml), request_id.encode()

    async def handle_post(self, scopes: Scopes, saml_response: str, saved: bytes) -> Identity:
        request_id = saved.decode("ascii", "replace")
        if not request_id.startswith("_"):
            raise ConnectorError("no SAML request is waiting for an answer in this sign-in")
        certificates = await self._trusted()
        xmlsec1 = self._xmlsec1() if certificates is not None else ""
        now = self._clock()
        expected = Expected(
            request_id=request_id,
            audience=self._config.audience,
            recipient=self._config.redirect_uri,
            issuer=self._config.sso_issuer,
            now=now,
            skew=self._skew,
        )
        try:
            assertion = await read_response(
                decode(saml_response), expected, certificates, xmlsec1=xmlsec1
            )
        except XMLSecUnavailableError as error:
            raise ConnectorError(str(error)) from None
        except (SignatureError, ResponseError) as error:
            raise ConnectorError(f"the identity provider's answer was refused: {error}") from None
        if not self._replays.first_use(assertion.id, assertion.valid_until, now):
            raise ConnectorError("this SAML assertion was already used (a replay)")
        return self._identity(scopes, assertion)

    def _identity(self, scopes: Scopes, assertion: VerifiedAssertion) -> Identity:
        attributes = assertion.attributes

        def first(name: str) -> str:
            value = next(iter(attributes.get(name, [])), "")
            if not value:
                names = ", ".join(sorted(attributes)) or "none"
                raise ConnectorError(f"the assertion has no attribute {name!r} (it has: {names})")
            return value

        email, username = first(self._config.email_attr), first(self._config.username_attr)
        groups = self._groups(scopes, attributes)
        return Identity(
            user_id=assertion.name_id,
            username=username,
            email=email,
            email_verified=True,  # Dex: SAML has no email_verified; the IdP vouches
            groups=tuple(groups),
        )

    def _groups(self, scopes: Scopes, attributes: dict[str, list[str]]) -> list[str]:
        config = self._config
        groups: list[str] = []
        if config.groups_attr and (scopes.groups or config.allowed_groups):
            values = attributes.get(config.groups_attr, [])
            if config.groups_delim:
                groups = values[0].split(config.groups_delim) if values else []
            else:
                groups = list(values)
        if config.allowed_groups:
            allowed = set(config.allowed_groups)
            matches = [group for group in groups if group in allowed]
            if not matches:
                raise UserNotInRequiredGroupsError("the user is not in any group allowed here")
            if config.filter_groups:
                groups = matches
        return groups if scopes.groups else []

    def metadata(self) -> bytes:
        return sp_metadata(self._config)
