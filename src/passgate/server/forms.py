"""Reading parameters from a request, once, with the rules of ``oauth2.params``."""

from __future__ import annotations

from starlette.requests import Request

from passgate.oauth2.errors import InvalidRequestError
from passgate.oauth2.params import Params
from passgate.server.middleware import BodyTooLarge

FORM_TYPE = "application/x-www-form-urlencoded"


async def form_params(request: Request, *, strict_type: bool = True) -> Params:
    """The urlencoded body (RFC 6749 §3.2: the token endpoint takes only this type)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        if strict_type or content_type:
            raise InvalidRequestError(f"the body must be {FORM_TYPE}")
        return Params([])
    try:
        form = await request.form(max_files=0, max_fields=64)
    except BodyTooLarge:  # LimitsMiddleware answers 413
        raise
    except Exception:  # python-multipart raises several types on malformed bodies
        raise InvalidRequestError("the request body is malformed") from None
    pairs = []
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidRequestError("file uploads are not accepted")
        pairs.append((name, value))
    return Params(pairs)


def query_params(request: Request) -> Params:
    return Params(request.query_params.multi_items())


async def request_params(request: Request) -> Params:
    """GET query or POST form (OIDC Core §3.1.2.1 allows both for /auth)."""
    if request.method == "POST":
        return await form_params(request, strict_type=False)
    return query_params(request)
