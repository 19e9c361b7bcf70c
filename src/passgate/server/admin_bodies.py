"""The admin API's base body, response and query models and its bounded field types,
shared by every schema module (``admin_schemas``, ``admin_session_schemas``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_ITEMS = 100
Text = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=2000)]


class Body(BaseModel):
    """Request bodies: unknown fields and loose types (``"true"`` for true) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Out(BaseModel):
    """Responses; ``from_attributes`` reads a record whose fields have the same names."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class Query(BaseModel):
    """Query strings: strings converted to the declared types; unknown parameters refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorBody(Out):
    error: str
    error_description: str = ""
