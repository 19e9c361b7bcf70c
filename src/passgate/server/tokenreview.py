"""POST /kubernetes/tokenreview: kube-apiserver's webhook token authenticator (DESIGN §4).

Answers from memory (signature check and the revocation cache), so a revocation is
refused here within a second on every replica. Every answer is a TokenReview in the
request's apiVersion, a malformed request included (400, with ``status.error``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from passgate.kube.tokenreview import (
    MalformedReviewError,
    answer,
    parse_review,
)
from passgate.oauth2.errors import InvalidTokenError
from passgate.server.errors import NO_STORE
from passgate.server.flow import services_of


async def tokenreview(request: Request) -> Response:
    services = services_of(request)
    reviewer = services.token_review
    if not reviewer.enabled:
        return JSONResponse(answer("", error="the TokenReview webhook is disabled"), 404)
    if not reviewer.caller_allowed(request.headers.get("authorization")):
        body = answer("", error="the webhook caller is not authorized")
        headers = {**NO_STORE, "WWW-Authenticate": 'Bearer realm="passgate"'}
        return JSONResponse(body, 401, headers=headers)
    try:
        review = parse_review(await request.body())  # LimitsMiddleware answers 413
    except MalformedReviewError as error:
        return JSONResponse(answer(error.api_version, error=str(error)), 400, headers=NO_STORE)
    try:  # the key manager refuses an oversized token before parsing it
        token = await services.verifier.verify(review.token)
    except InvalidTokenError as error:
        result = answer(review.api_version, error=error.description or "invalid token")
    else:
        result = reviewer.review(review, token)
    return JSONResponse(result, headers=NO_STORE)


routes = [Route("/kubernetes/tokenreview", tokenreview, methods=["POST"], name="tokenreview")]
