"""Poll an IMAP mailbox for unseen mail.

    with ImapMailbox("imaps://user:p%40ss@imap.example.cn/INBOX") as box:
        for uid, raw in box.unseen(limit=50):
            make_case(parse_mail(raw))
            box.mark_processed(uid)

Messages are fetched with ``BODY.PEEK[]``, which leaves ``\\Seen`` alone (a plain ``RFC822`` fetch would set
it): a crash between fetching and ``mark_processed`` re-delivers the mail on the next poll instead of losing
it. The caller must therefore be idempotent (deduplicate on Message-ID).
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import ssl
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import unquote, urlsplit

__all__ = ["ImapError", "ImapMailbox", "ImapTarget", "encode_mailbox_name", "parse_imap_url"]

_SCHEMES = {"imap": (143, "plain"), "imaps": (993, "ssl"), "imap+starttls": (143, "starttls")}


class ImapError(RuntimeError):
    """Connecting, logging in, selecting, fetching or flagging failed."""


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    security: str  # "plain" | "ssl" | "starttls"
    user: str
    password: str
    folder: str

    def __repr__(self) -> str:  # never print the password
        return (
            f"ImapTarget(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"user={self.user!r}, folder={self.folder!r})"
        )


def parse_imap_url(url: str) -> ImapTarget:
    """``imaps://user:password@host:993/Folder`` → :class:`ImapTarget`.

    User, password and folder are percent-decoded; the folder defaults to INBOX. Schemes: ``imap`` (143),
    ``imaps`` (993, TLS), ``imap+starttls`` (143, STARTTLS).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported IMAP URL scheme {parts.scheme!r} (imap, imaps, imap+starttls)")
    default_port, security = _SCHEMES[scheme]
    if not parts.hostname:
        raise ValueError("IMAP URL without host")
    if parts.username is None or parts.password is None:
        raise ValueError("IMAP URL without user:password")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ValueError(f"bad IMAP port: {exc}") from None
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapTarget(
        host=parts.hostname,
        port=port,
        security=security,
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=folder,
    )


def encode_mailbox_name(name: str) -> str:
    """RFC 3501 §5.1.3 modified UTF-7 ("台北" → "&U,BTFw-"), so Chinese folder names can be selected."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_UID_IN_FETCH = re.compile(rb"\bUID\s+(\d+)", re.IGNORECASE)


class ImapMailbox:
    """One IMAP session on one folder. Use as a context manager."""

    def __init__(self, url: str, *, timeout: float | None = 30.0, ssl_context: ssl.SSLContext | None = None):
        self.target = parse_imap_url(url)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.uidvalidity: int | None = None
        self._conn: imaplib.IMAP4 | None = None

    def __repr__(self) -> str:
        t = self.target
        return f"ImapMailbox({t.security} {t.user}@{t.host}:{t.port}/{t.folder})"

    # -- session -----------------------------------------------------------------------------------------

    def open(self) -> ImapMailbox:
        t = self.target
        try:
            if t.security == "ssl":
                context = self.ssl_context or ssl.create_default_context()
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(t.host, t.port, ssl_context=context, timeout=self.timeout)
            else:
                conn = imaplib.IMAP4(t.host, t.port, timeout=self.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"cannot connect to {t.host}:{t.port}: {exc}") from exc
        self._conn = conn
        try:
            if t.security == "starttls":
                conn.starttls(ssl_context=self.ssl_context or ssl.create_default_context())
            conn.login(_quote(t.user), t.password)  # imaplib quotes only the password
            typ, data = conn.select(_quote(encode_mailbox_name(t.folder)))
            if typ != "OK":
                raise ImapError(f"cannot select folder {t.folder!r}: {_text(data)}")
            _typ, validity = conn.response("UIDVALIDITY")
            if validity and validity[0]:
                self.uidvalidity = int(validity[0])
        except (OSError, imaplib.IMAP4.error, ValueError) as exc:
            self.close()
            raise ImapError(f"IMAP session on {t.host} failed: {exc}") from exc
        except ImapError:
            self.close()
            raise
        return self

    def close(self) -> None:
        """LOGOUT (no CLOSE: that would expunge messages someone else flagged \\Deleted)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            with contextlib.suppress(OSError):
                conn.shutdown()

    def __enter__(self) -> ImapMailbox:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def conn(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise ImapError("mailbox is not open (use it as a context manager)")
        return self._conn

    def _uid(self, command: str, *args: str) -> list:
        try:
            typ, data = self.conn.uid(command, *args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"UID {command} failed: {exc}") from exc
        if typ != "OK":
            raise ImapError(f"UID {command} failed: {_text(data)}")
        return data

    # -- mail --------------------------------------------------------------------------------------------

    def unseen_uids(self, limit: int = 50) -> list[str]:
        """UIDs of unseen messages, oldest (lowest UID) first, at most ``limit``."""
        data = self._uid("SEARCH", "UNSEEN")
        uids = sorted({int(tok) for chunk in data if chunk for tok in bytes(chunk).split() if tok.isdigit()})
        return [str(uid) for uid in uids[: max(0, limit)]]

    def fetch(self, uid: str) -> bytes | None:
        """The raw message, without setting \\Seen; None if it vanished meanwhile."""
        data = self._uid("FETCH", uid, "(UID BODY.PEEK[])")
        first: bytes | None = None
        for item in data:
            if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
                found = _UID_IN_FETCH.search(item[0])
                if found and found.group(1).decode() == uid:
                    return item[1]
                first = item[1] if first is None else first
        return first

    def unseen(self, limit: int = 50) -> list[tuple[str, bytes]]:
        """``(uid, raw)`` of up to ``limit`` unseen messages, oldest first. Nothing is flagged."""
        out = []
        for uid in self.unseen_uids(limit):
            raw = self.fetch(uid)
            if raw is not None:
                out.append((uid, raw))
        return out

    def mark_processed(self, uid: str) -> None:
        """Set \\Seen on ``uid`` once its case exists."""
        self._uid("STORE", str(uid), "+FLAGS", "(\\Seen)")


def _text(data: object) -> str:
    if isinstance(data, list | tuple):
        return " ".join(_text(d) for d in data if d is not None)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)
