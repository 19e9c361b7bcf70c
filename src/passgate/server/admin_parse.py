"""Reading the admin API's input: a JSON body or a query string checked against its
pydantic model. The console validates its forms with the same models through
:func:`validated`, so a value the API refuses is refused there with the same words."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from passgate.admin.errors import AdminError, BadRequestError
from passgate.server.admin_bodies import Body, Query

__all__ = [
    "UnprocessableError",
    "UnsupportedMediaTypeError",
    "describe",
    "parse_body",
    "parse_query",
    "validated",
]

Model = TypeVar("Model", bound=BaseModel)


class UnsupportedMediaTypeError(AdminError):
    status_code = 415
    error = "unsupported_media_type"


class UnprocessableError(AdminError):
    status_code = 422


def no_bad_text(value: object) -> None:
    """JSON may carry lone surrogates and NUL characters; neither belongs in an id, a name
    or a password, and storage cannot keep them."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadRequestError("strings must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestError("strings must be valid Unicode") from None
    elif isinstance(value, list):
        for item in value:
            no_bad_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            no_bad_text(key)
            no_bad_text(item)


def describe(error: ValidationError) -> str:
    """The first few problems, each with where it is: ``redirect_uris.0: ...``."""
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


def validated(
    model: type[Model],
    values: Mapping[str, object],
    error: type[AdminError] = BadRequestError,
) -> Model:
    """``values`` as ``model``, or ``error`` saying what is wrong."""
    no_bad_text(dict(values))
    try:
        return model.model_validate(values)
    except ValidationError as problem:
        raise error(describe(problem)) from None


async def parse_body(request: Request, model: type[Body]) -> Body:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaTypeError("send the body as application/json")
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequestError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        no_bad_text(data)
        raise UnprocessableError("the body must be a JSON object")
    return validated(model, data, UnprocessableError)


def parse_query(request: Request, model: type[Query]) -> Query:
    items = request.query_params.multi_items()
    names = [name for name, _ in items]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BadRequestError(f"repeated parameter: {', '.join(repeated)}"[:200])
    return validated(model, dict(items))
