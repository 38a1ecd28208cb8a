"""Notifier backends: one interface, ``send(message) -> provider id`` (raise ``SendError`` on failure).

- ``LogNotifier`` (default): writes one structured log line; nothing is delivered. The recipient is masked and
  the body is not logged (it stays in the ``notification`` row, readable by staff).
- ``SmtpNotifier``: e-mail through an SMTP server (``SHANGLIANG_SMTP_*``), optionally with STARTTLS and login.
- SMS: a future gateway backend implements the same interface; until then SMS goes through ``LogNotifier``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol

from dispatch.config import Settings, get_settings

log = logging.getLogger("dispatch.notifications")


@dataclass(frozen=True)
class Message:
    id: int  # the notification row
    channel: str  # sms | email
    to: str
    subject: str | None
    body: str


class SendError(Exception):
    """The backend could not deliver; the message is retried until the attempts run out."""


class Notifier(Protocol):
    name: str

    def send(self, message: Message) -> str:
        """Deliver ``message``; return the provider's id for it, or raise ``SendError``."""
        ...


def mask_recipient(to: str) -> str:
    """a***@example.cn, 138****5678: enough to tell messages apart in a log, not enough to contact anyone."""
    if "@" in to:
        local, _, domain = to.partition("@")
        return f"{local[:1]}***@{domain}"
    digits = to.strip()
    return digits[:3] + "*" * max(len(digits) - 7, 1) + digits[-4:] if len(digits) > 7 else "*" * len(digits)


class LogNotifier:
    name = "log"

    def send(self, message: Message) -> str:
        line = {
            "notification_id": message.id,
            "channel": message.channel,
            "to": mask_recipient(message.to),
            "subject": message.subject,
            "body_chars": len(message.body),
            "body_sha256": hashlib.sha256(message.body.encode()).hexdigest()[:16],
        }
        log.info("notification.sent %s", json.dumps(line, ensure_ascii=False, sort_keys=True))
        return f"log-{message.id}"


class SmtpNotifier:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def _from(self) -> str:
        return self.s.smtp_from or f"noreply@{self.s.mail_domain}"

    def send(self, message: Message) -> str:
        if message.channel != "email":
            raise SendError(f"smtp cannot send {message.channel}")
        mail = EmailMessage()
        mail["From"] = formataddr(("有事好商量", self._from()))
        mail["To"] = message.to
        mail["Subject"] = message.subject or ""
        msgid = make_msgid(idstring=f"n{message.id}", domain=self._from().rpartition("@")[2] or None)
        mail["Message-ID"] = msgid
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: mail robots do not answer it
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=self.s.smtp_timeout_s) as smtp:
                if self.s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.s.smtp_user:
                    smtp.login(self.s.smtp_user, self.s.smtp_password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, rejected, TLS failure
            raise SendError(f"{exc.__class__.__name__}: {exc}"[:500]) from exc
        return msgid


def notifier_for(channel: str, settings: Settings | None = None) -> Notifier:
    settings = settings or get_settings()
    if channel == "email" and settings.notify_backend == "smtp":
        return SmtpNotifier(settings)
    return LogNotifier()  # the default, and SMS until a gateway backend exists
