"""The TokenReview webhook's protocol (DESIGN §4): parse what kube-apiserver POSTs and
map a verified Passgate token to the user it would have made of it.

kube-apiserver sends a ``TokenReview`` (``authentication.k8s.io/v1`` or ``v1beta1``) with
``spec.token`` and optionally ``spec.audiences``; the answer has the same apiVersion and
kind and a ``status``. The mapping is the one ``passgate apiserver-config`` configures
for the cluster whose client id is in the token's ``aud`` (``kubernetes.clusters``:
``usernameClaim``, ``groupsClaim``, the prefixes, ``uid`` from ``sub``), with the
apiserver's rules: with the ``email`` claim, ``email_verified`` must be ``true`` when
present; groups may be a string or an array of strings. ``status.user.extra`` carries
the session id under :data:`SESSION_EXTRA_KEY` (a domain-prefixed key, as Kubernetes
wants for extra keys), so audit logs and admission webhooks can name the session.

``spec.audiences`` (the apiserver's ``--api-audiences``): the token is authenticated only
when its ``aud`` shares one of them, and ``status.audiences`` lists the shared ones.
Without it the token must have been issued to one of the configured clusters' clients.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from passgate.kube.apiserver import ApiserverSettings
from passgate.tokens.issuer import VerifiedToken

__all__ = [
    "API_GROUP",
    "API_VERSIONS",
    "SESSION_EXTRA_KEY",
    "ClusterMapping",
    "MalformedReviewError",
    "ReviewRequest",
    "TokenReviewer",
    "answer",
    "parse_review",
]

API_GROUP = "authentication.k8s.io"
API_VERSIONS = (f"{API_GROUP}/v1", f"{API_GROUP}/v1beta1")
KIND = "TokenReview"
SESSION_EXTRA_KEY = "passgate.io/session-id"
MAX_AUDIENCES = 64


class MalformedReviewError(ValueError):
    """Not a TokenReview kube-apiserver would send; ``api_version`` is the one to answer in."""

    def __init__(self, message: str, api_version: str = API_VERSIONS[0]) -> None:
        super().__init__(message)
        self.api_version = api_version


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    api_version: str
    token: str
    audiences: tuple[str, ...] | None  # None: the field was absent


def parse_review(body: bytes) -> ReviewRequest:
    """The TokenReview in ``body``; :class:`MalformedReviewError` for anything else."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedReviewError("the body is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedReviewError("the body is not a JSON object")
    version = document.get("apiVersion")
    if version not in API_VERSIONS:
        raise MalformedReviewError(f"apiVersion must be one of {', '.join(API_VERSIONS)}")
    assert isinstance(version, str)
    if document.get("kind") != KIND:
        raise MalformedReviewError("kind must be TokenReview", version)
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise MalformedReviewError("spec is missing", version)
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise MalformedReviewError("spec.token is missing", version)
    audiences = spec.get("audiences")
    if audiences is not None:
        if (
            not isinstance(audiences, list)
            or len(audiences) > MAX_AUDIENCES
            or not all(isinstance(item, str) for item in audiences)
        ):
            raise MalformedReviewError("spec.audiences must be a list of strings", version)
        audiences = tuple(audiences)
    return ReviewRequest(version, token, audiences)


def answer(
    api_version: str,
    *,
    user: Mapping[str, Any] | None = None,
    audiences: Sequence[str] | None = None,
    error: str = "",
) -> dict[str, Any]:
    """A TokenReview answer: authenticated when ``user`` is given."""
    status: dict[str, Any] = {"authenticated": user is not None}
    if user is not None:
        status["user"] = dict(user)
    if audiences:
        status["audiences"] = list(audiences)
    if error:
        status["error"] = error
    return {
        "apiVersion": api_version if api_version in API_VERSIONS else API_VERSIONS[0],
        "kind": KIND,
        "metadata": {"creationTimestamp": None},
        "spec": {},
        "status": status,
    }


@dataclass(frozen=True, slots=True)
class ClusterMapping:
    """How one cluster's apiserver turns claims into a user."""

    client_id: str
    username_claim: str = "email"
    groups_claim: str = "groups"
    username_prefix: str = ""  # effective: what is really prepended
    groups_prefix: str = ""

    @classmethod
    def of(cls, settings: ApiserverSettings) -> ClusterMapping:
        return cls(
            client_id=settings.client_id,
            username_claim=settings.username_claim,
            groups_claim=settings.groups_claim,
            username_prefix=settings.effective_username_prefix(),
            groups_prefix=settings.groups_prefix or "",
        )


class ClaimError(ValueError):
    """The token's claims cannot make a Kubernetes user (as the apiserver would refuse)."""


class TokenReviewer:
    """Maps verified tokens for the clusters of ``kubernetes.clusters``."""

    def __init__(
        self, clusters: Sequence[ClusterMapping], *, secret: str = "", enabled: bool = True
    ) -> None:
        self._clusters = tuple(clusters)
        self._secret = secret
        self.enabled = enabled

    def caller_allowed(self, authorization: str | None) -> bool:
        """With a configured secret, the caller must present it as a bearer token."""
        if not self._secret:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            value.strip().encode("utf-8", "replace"), self._secret.encode("utf-8")
        )

    def review(self, request: ReviewRequest, token: VerifiedToken) -> dict[str, Any]:
        """The answer for a token that verified and is not revoked."""
        version = request.api_version
        shared: tuple[str, ...] = ()
        candidates = token.audience
        if request.audiences is not None:
            shared = tuple(aud for aud in request.audiences if aud in token.audience)
            if not shared:
                return answer(version, error="the token is not for any of spec.audiences")
            candidates = shared
        mapping = self._mapping_for(candidates, token.client_id)
        if mapping is None:
            return answer(version, error="the token was not issued for a configured cluster")
        try:
            user = _user(mapping, token)
        except ClaimError as error:
            return answer(version, error=str(error))
        return answer(version, user=user, audiences=shared)

    def _mapping_for(self, audiences: Sequence[str], azp: str) -> ClusterMapping | None:
        # The client the token was issued to first, then any other audience it names.
        for wanted in (azp, *audiences):
            if wanted not in audiences:
                continue
            for cluster in self._clusters:
                if cluster.client_id == wanted:
                    return cluster
        return None


def _user(mapping: ClusterMapping, token: VerifiedToken) -> dict[str, Any]:
    claims = token.claims
    name = claims.get(mapping.username_claim)
    if not isinstance(name, str) or not name:
        raise ClaimError(f"claim {mapping.username_claim!r} is missing or not a string")
    # kube-apiserver: email_verified, when present, must be true for the email claim.
    if mapping.username_claim == "email" and claims.get("email_verified", True) is not True:
        raise ClaimError("email not verified")
    groups_value = claims.get(mapping.groups_claim)
    if groups_value is None:
        groups: list[str] = []
    elif isinstance(groups_value, str):
        groups = [groups_value]
    elif isinstance(groups_value, list) and all(isinstance(g, str) for g in groups_value):
        groups = list(groups_value)
    else:
        raise ClaimError(f"claim {mapping.groups_claim!r} must be a string or strings")
    user: dict[str, Any] = {
        "username": mapping.username_prefix + name,
        "uid": token.subject,
        "groups": [mapping.groups_prefix + group for group in groups],
    }
    if token.session_id:
        user["extra"] = {SESSION_EXTRA_KEY: [token.session_id]}
    return user
