"""Structured logs: JSON in production, readable in a terminal (``logger`` config)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

# Never logged, whatever a caller passes: these carry credentials.
_SECRET_KEYS = frozenset(
    {"password", "client_secret", "code", "code_verifier", "refresh_token", "access_token",
     "id_token", "token", "secret", "authorization", "cookie"}
)  # fmt: skip


def _redactor(excluded: Iterable[str]) -> structlog.types.Processor:
    dropped = frozenset(excluded)

    def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event):
            if key in dropped:
                del event[key]
            elif key.lower() in _SECRET_KEYS:
                event[key] = "[redacted]"
        return event

    return redact


def configure(level: str = "info", fmt: str = "text", exclude_fields: Iterable[str] = ()) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redactor(exclude_fields),
        structlog.processors.format_exc_info if fmt == "json" else structlog.dev.set_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        # Records from the logging module (uvicorn, the key manager) become JSON lines
        # too, so that a log pipeline never meets a line it cannot parse.
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[
                    structlog.stdlib.add_logger_name,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    _redactor(exclude_fields),
                ],
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=numeric, handlers=[handler])
