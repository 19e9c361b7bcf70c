"""The admin API's OpenAPI 3.1 document, generated from the route table
(``passgate.server.admin.OPERATIONS``) and the pydantic models: one source for both."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from passgate import __version__
from passgate.server import admin_schemas as s

if TYPE_CHECKING:
    from passgate.server.admin import Operation

_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{(\w+)}")
_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Malformed request or a value that breaks a rule",
    401: "No or invalid bearer token",
    403: "Not an admin",
    404: "Not found (or the admin API is disabled)",
    405: "Method not allowed",
    409: "Exists already, or read-only (from the config file)",
    413: "Request body too large",
    415: "The body is not application/json",
    422: "The body does not match the schema",
    503: "Storage is not available; retry",
}
_PATH_PARAMS = {
    "client_id": "A client id",
    "email": "A user's email address",
}


def _schemas(operations: Iterable[Operation]) -> dict[str, Any]:
    models: set[type[BaseModel]] = {s.ErrorBody}
    for op in operations:
        models.update(m for m in (op.body, op.response) if m is not None)
    keyed = [(model, "validation" if issubclass(model, s.Body) else "serialization")
             for model in sorted(models, key=lambda m: m.__name__)]  # fmt: skip
    _, schema = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    defs: dict[str, Any] = schema.get("$defs", {})
    return defs


def _query_parameters(model: type[s.Query]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}},
    }


def _operation(op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": _PATH_PARAMS.get(name, name),
            "schema": {"type": "string", "minLength": 1},
        }
        for name in _PARAM.findall(op.path)
    ]
    errors = {401, 403, 405, 503, *op.errors}
    if op.query is not None:
        parameters += _query_parameters(op.query)
        errors.add(400)
    responses: dict[str, Any] = {}
    if op.response is None:
        responses[str(op.status)] = {"description": _DESCRIPTIONS[op.status]}
    else:
        ref = {"$ref": _REF.format(model=op.response.__name__)}
        responses[str(op.status)] = {
            "description": _DESCRIPTIONS[op.status],
            "content": {"application/json": {"schema": ref}},
        }
    document: dict[str, Any] = {
        "operationId": f"{op.action.removeprefix('admin.')}.{op.method.lower()}",
        "summary": op.summary,
        "tags": [op.path.split("/")[1]],
        "parameters": parameters,
    }
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=op.body.__name__)}}
            },
        }
        errors |= {400, 413, 415, 422}
    if "{" in op.path:
        errors.add(404)
    for status in sorted(errors):
        responses[str(status)] = _error(status)
    document["responses"] = responses
    return document


def openapi_document(operations: Iterable[Operation], server_url: str) -> dict[str, Any]:
    ops = list(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Passgate admin API",
            "version": __version__,
            "description": (
                "Clients, password-database users, sessions, revocations, signing keys "
                "and the audit log. Every call is audited."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": _schemas(ops),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an admin token from the config (admin.tokens), or a "
                    "Passgate access or ID token of a member of admin.groups",
                }
            },
        },
    }
