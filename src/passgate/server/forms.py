"""Reading parameters from a request, once, with the rules of ``oauth2.params``."""

from __future__ import annotations

from starlette.requests import Request

from passgate.oauth2.errors import InvalidRequestError
from passgate.oauth2.params import Params
from passgate.server.middleware import BodyTooLarge

FORM_TYPE = "application/x-www-form-urlencoded"


def content_type(request: Request) -> str:
    """The media type of the body, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def form_pairs(request: Request, *, max_fields: int = 64) -> list[tuple[str, str]]:
    """The fields of an urlencoded body, in order, repeats kept; the caller has checked
    the type. :class:`InvalidRequestError` for a malformed body or a file; an oversized
    one raises ``BodyTooLarge`` on, which LimitsMiddleware answers with 413."""
    try:
        form = await request.form(max_files=0, max_fields=max_fields)
    except BodyTooLarge:
        raise
    except Exception:  # python-multipart raises several types on malformed bodies
        raise InvalidRequestError("the request body is malformed") from None
    pairs = []
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidRequestError("file uploads are not accepted")
        pairs.append((name, value))
    return pairs


async def form_params(request: Request, *, strict_type: bool = True) -> Params:
    """The urlencoded body (RFC 6749 §3.2: the token endpoint takes only this type)."""
    media_type = content_type(request)
    if media_type != FORM_TYPE:
        if strict_type or media_type:
            raise InvalidRequestError(f"the body must be {FORM_TYPE}")
        return Params([])
    return Params(await form_pairs(request))


def query_params(request: Request) -> Params:
    return Params(request.query_params.multi_items())


async def request_params(request: Request) -> Params:
    """GET query or POST form (OIDC Core §3.1.2.1 allows both for /auth)."""
    if request.method == "POST":
        return await form_params(request, strict_type=False)
    return query_params(request)
