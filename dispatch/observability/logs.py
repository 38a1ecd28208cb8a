"""Logging setup: one JSON object per line (``SHANGLIANG_LOG_FORMAT=json``) or readable text (the default).

Every record carries the request id of the request (or job) it was written in; extras passed with
``log.info(..., extra={"case_id": 7})`` become fields of the JSON object.

No record reaches a handler unredacted: ``RedactFilter`` (on the handlers of ``log_config``, and put on the
handlers uvicorn or a test harness configured by ``install_redaction`` when the app starts) masks secrets in
query strings (``?secret=``, ``?token=``, ``api_key``...), bearer tokens, API keys and phone numbers in the
message, its arguments (uvicorn's access and websocket lines), extras and tracebacks, by the one rule of
``dispatch.audit.redact``.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from dispatch.audit.redact import redact, redact_text
from dispatch.config import get_settings
from dispatch.observability.context import job_id_var, request_id_var

# attributes every LogRecord has: anything else on a record is an extra worth logging
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


def _context(record: logging.LogRecord) -> tuple[str | None, str | None]:
    rid = getattr(record, "request_id", None) or request_id_var.get()
    jid = getattr(record, "job_id", None) or job_id_var.get()
    return rid, jid


class ContextFilter(logging.Filter):
    """Stamp ``request_id`` and ``job_id`` on records when they are created (for text formats)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid, jid = _context(record)
        record.request_id, record.job_id = rid, jid
        record.rid = rid or "-"
        return True


_NOT_EXTRAS = _STANDARD - {"color_message"}  # uvicorn's coloured copy of the message is redacted too


class RedactFilter(logging.Filter):
    """Mask secrets and phone numbers in a record before any handler formats it (changes the record in place,
    so every handler of it writes the same redacted line; a second pass finds nothing left)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        args = record.args
        if isinstance(args, tuple) and args:
            # each argument on its own first: uvicorn's access line keeps its fields (path, status) for JSON
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict) and args:
            record.args = redact(args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: the handler reports it as logging does
            message = None
        # what is left (a secret in the format itself, or split between format and arguments): the message
        # as a whole, redacted, with no arguments left to format
        # (not uvicorn's access line: its formatters unpack the five arguments, each already clean)
        if message is not None and record.name != "uvicorn.access" and (clean := redact_text(message)) != message:
            record.msg, record.args = clean, ()
        for key, value in list(vars(record).items()):
            if key not in _NOT_EXTRAS and isinstance(value, str | dict | list | tuple):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._redacted = True
        return True


def install_redaction() -> None:
    """Put ``RedactFilter`` on every handler configured in this process that lacks one: uvicorn's own (plain
    ``uvicorn dispatch.asgi:app``), a test harness's, ours (already there). Called when the app starts, after
    whoever runs it configured logging."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    handlers = [handler for logger in loggers for handler in logger.handlers]
    if logging.lastResort is not None:  # what records reach when no handler is configured for them
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC ISO 8601), level, logger, msg, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        rid, jid = _context(record)
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": rid,
        }
        if jid:
            out["job_id"] = jid
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _version, status = record.args
            out.update(client=client, method=method, path=path, status=status)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and key not in ("request_id", "job_id", "rid", "_redacted"):
                out[key] = value
        if record.exc_text:  # as RedactFilter left it
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(rid)s]: %(message)s"


def log_config(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the app and uvicorn (also given to uvicorn for its worker processes)."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "default",
        "filters": ["context", "redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}, "redact": {"()": RedactFilter}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            # uvicorn's own loggers propagate to the root handler: one format for everything
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level.upper(), "propagate": True},
        },
    }


def configure_logging(fmt: str | None = None, level: str | None = None) -> dict[str, Any]:
    """Configure the root logger from the settings (or the arguments); returns the config used."""

    settings = get_settings()
    config = log_config(fmt or settings.log_format, level or settings.log_level)
    logging.config.dictConfig(config)
    return config
