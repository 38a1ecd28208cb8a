"""Logging setup: one JSON object per line (``SHANGLIANG_LOG_FORMAT=json``) or readable text (the default).

Every record carries the request id of the request (or job) it was written in; extras passed with
``log.info(..., extra={"case_id": 7})`` become fields of the JSON object.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

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
        record.request_id, record.job_id = _context(record)
        record.rid = record.request_id or "-"
        return True


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
            if key not in _STANDARD and key not in out and key not in ("request_id", "job_id", "rid"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
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
        "filters": ["context"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
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
    from dispatch.config import get_settings

    settings = get_settings()
    config = log_config(fmt or settings.log_format, level or settings.log_level)
    logging.config.dictConfig(config)
    return config
