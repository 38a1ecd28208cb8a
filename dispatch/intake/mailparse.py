"""Raw RFC 822 mail → :class:`ParsedMail`. No HTTP, no database.

Written for the mail residents really send: headers RFC 2047-encoded in GB2312/GBK/GB18030/UTF-8 (``B`` and
``Q``), raw 8-bit GBK in headers without any encoded-word, bodies mislabelled ``gb2312`` that are really GBK,
HTML-only bodies, photos pasted inline, RFC 2231 and RFC 2047 attachment names.

The stdlib parser builds the MIME tree (``compat32`` policy: it never parses header values, so a broken header
cannot raise); every header value is decoded here from its raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.errors
import email.policy
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, cast

from dispatch.cases.files import safe_filename
from dispatch.config import get_settings
from dispatch.validation import clean_text, plausible_time

__all__ = [
    "MAX_ATTACHMENTS",
    "RECIPIENT_HEADERS",
    "Attachment",
    "MailError",
    "ParsedMail",
    "decode_bytes",
    "decode_header",
    "html_to_text",
    "parse_mail",
]

MAX_ATTACHMENTS = 10
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
_MAX_DEPTH = 20

_MESSAGES: dict[str, tuple[str, str]] = {
    "malformed_mail": ("邮件格式无法解析", "The message is not a parsable e-mail"),
    "empty_mail": ("邮件既无正文也无附件", "The message has neither text nor attachments"),
    "too_many_attachments": (
        f"附件过多（最多 {MAX_ATTACHMENTS} 个）",
        f"Too many attachments (at most {MAX_ATTACHMENTS})",
    ),
}


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:  # keep logs free of megabytes of photo bytes
        return f"Attachment(filename={self.filename!r}, content_type={self.content_type!r}, size={len(self.data)})"


@dataclass
class ParsedMail:
    message_id: str | None
    subject: str
    sender: str | None
    sender_name: str | None
    recipients: list[str]
    date: datetime | None
    text: str
    attachments: list[Attachment] = field(default_factory=list)


class MailError(ValueError):
    """A mail we cannot turn into a case. ``code`` is snake_case, ``message`` is "中文 / English".

    ``mail`` carries what could be parsed (sender, subject…) for ``empty_mail`` and ``too_many_attachments``,
    so the caller can still answer the resident.
    """

    def __init__(self, code: str, detail: str | None = None, *, mail: ParsedMail | None = None, **details: Any) -> None:
        zh, en = _MESSAGES.get(code, ("邮件无法处理", "The message cannot be processed"))
        message = f"{zh} / {en}"
        if detail:
            message = f"{message}: {detail}"
        super().__init__(message)
        self.code = code
        self.zh, self.en = zh, f"{en}: {detail}" if detail else en
        self.message = message
        self.mail = mail
        self.details = details


# --------------------------------------------------------------------------- charsets

_GB_ALIASES = {
    "gb2312",
    "gbk",
    "x-gbk",
    "cp936",
    "ms936",
    "windows-936",
    "gb_2312-80",
    "euc-cn",
    "x-euc-cn",
    "csgb2312",
    "chinese",
    "gb18030",
    "x-gb18030",
}


def _codec(charset: str | None) -> str | None:
    """The Python codec for a MIME charset label, GB2312/GBK widened to GB18030; None when unknown."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    if label in _GB_ALIASES:
        return "gb18030"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib, rot13… are not charsets
        return None
    if info.name in ("gb2312", "gbk"):
        return "gb18030"
    return info.name


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode text bytes: the declared charset strictly, then UTF-8, then GB18030, then lossy."""
    codec = _codec(charset)
    for candidate in (codec, "utf-8", "gb18030"):
        if candidate is None:
            continue
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(codec or "utf-8", errors="replace")


def _raw_to_str(value: Any) -> str:
    """A raw header value as the parser stored it (8-bit bytes as surrogates) → text."""
    if not isinstance(value, str):
        return str(value)
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # real characters already
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return decode_bytes(data)


# --------------------------------------------------------------------------- headers

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*=*")


def _ew_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            if not _BASE64.fullmatch(text):
                return None
            compact = text.rstrip("=")
            return base64.b64decode(compact + "=" * (-len(compact) % 4))
        return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return None


def decode_header(value: str | None) -> str:
    """Decode one header value: raw 8-bit bytes (UTF-8, else GB18030), then RFC 2047 encoded-words.

    Whitespace between adjacent encoded-words is dropped and adjacent words in the same charset are joined
    before decoding, so a multi-byte character split across two words survives.
    """
    if not value:
        return ""
    text = _FOLD.sub("", _raw_to_str(value))
    chunks: list[tuple[str | None, str | bytes]] = []  # (charset, bytes) for words, (None, str) for text
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        previous_is_word = bool(chunks) and chunks[-1][0] is not None
        data = _ew_bytes(match.group(2), match.group(3))
        if data is None:  # not decodable: keep it literally
            chunks.append((None, between + match.group(0)))
            pos = match.end()
            continue
        if between and not (previous_is_word and between.isspace()):
            chunks.append((None, between))
        charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 language suffix: =?gbk*zh?B?…?=
        last = chunks[-1] if chunks else None
        if last is not None and last[0] is not None and _codec(last[0]) == _codec(charset):
            chunks[-1] = (last[0], cast(bytes, last[1]) + data)  # a word (with a charset) holds bytes
        else:
            chunks.append((charset, data))
        pos = match.end()
    chunks.append((None, text[pos:]))
    out = [decode_bytes(part, charset) if isinstance(part, bytes) else part for charset, part in chunks]
    return "".join(out)


def _clean_line(value: str) -> str:
    return " ".join(value.split())


def _raw_headers(msg: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [value for key, value in msg.raw_items() if key.lower() == wanted]


def _first_header(msg: Message, name: str) -> str | None:
    values = _raw_headers(msg, name)
    return values[0] if values else None


def _address(addr: str) -> str | None:
    addr = addr.strip().strip("<>").strip().lower()
    return addr if "@" in addr and " " not in addr else None


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    values = [_FOLD.sub("", _raw_to_str(v)).replace("\r", " ").replace("\n", " ") for v in _raw_headers(msg, name)]
    if not values:
        return []
    try:
        pairs = getaddresses(values)
    except Exception:  # an unparsable header must not lose the mail
        return []
    out = []
    for display, addr in pairs:
        bare = _address(addr)
        if bare:
            out.append((_clean_line(decode_header(display)).strip("\"' "), bare))
    return out


def _date(msg: Message) -> datetime | None:
    raw = _first_header(msg, "Date")
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(_clean_line(decode_header(raw)))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value is None:
        return None
    if value.tzinfo is None:  # "-0000": UTC, origin unknown
        value = value.replace(tzinfo=UTC)
    return value


# --------------------------------------------------------------------------- MIME parameters

_CTYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")


def _content_type(part: Message) -> str:
    raw = _first_header(part, "Content-Type")
    if raw:
        token = _raw_to_str(raw).split(";", 1)[0].strip().lower()
        if _CTYPE.match(token):
            return token
    return part.get_default_type()


def _disposition(part: Message) -> str | None:
    raw = _first_header(part, "Content-Disposition")
    if not raw:
        return None
    token = _raw_to_str(raw).split(";", 1)[0].strip().lower()
    return token or None


def _param(part: Message, header: str, name: str) -> str | None:
    raw = _first_header(part, header)
    if not raw:
        return None
    holder = Message()
    holder[header] = _FOLD.sub("", _raw_to_str(raw)).replace("\r", "").replace("\n", "")
    try:
        value = holder.get_param(name, header=header)
    except Exception:
        return None
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, octets as latin-1 characters)
        charset, _language, text = value
        try:
            value = decode_bytes(text.encode("latin-1"), charset)
        except UnicodeEncodeError:
            value = text
    return _clean_line(decode_header(value))


def _charset(part: Message) -> str | None:
    return _param(part, "Content-Type", "charset")


def _filename(part: Message) -> str | None:
    name = _param(part, "Content-Disposition", "filename") or _param(part, "Content-Type", "name")
    if not name:
        return None
    return safe_filename(name, default="") or None  # the store's rule: no path, no control characters, bounded


# --------------------------------------------------------------------------- HTML

_BLOCK_TAGS = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "dl",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "address",
    "center",
    "form",
    "fieldset",
    "figure",
    "figcaption",
    "tbody",
    "thead",
    "tfoot",
    "body",
    "html",
}
_SKIP_TAGS = {"script", "style", "title", "template", "head"}


class _TextExtractor(HTMLParser):
    """Block tags start a new line (once: nested <div>s give no blank lines), <br> is a hard line break."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.line_start = True

    def _break(self, hard: bool = False) -> None:
        if hard or not self.line_start:
            self.out.append("\n")
            self.line_start = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":  # an unclosed <title> or <head> must not swallow the body
            self.skip = 0
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "br":
            self._break(hard=True)
        elif tag in ("td", "th") and not self.line_start:
            self.out.append(" ")
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break(hard=True)
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if self.line_start:
                data = data.lstrip(" ")
        if data:
            self.out.append(data)
            self.line_start = data.endswith("\n")


def _tidy(text: str) -> str:
    """Normalise line ends, strip lines, collapse runs of blank lines into one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if not line.strip():
            if lines and lines[-1] != "":
                lines.append("")
            continue
        lines.append(line)
    return "\n".join(lines).strip("\n")


def html_to_text(html: str) -> str:
    """Readable text from HTML: scripts and styles dropped, block tags and <br> as line breaks."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.out)
    except Exception:  # fall back to stripping tags
        text = re.sub(r"<[^>]*>", " ", html)
    text = text.replace("\xa0", " ")
    return _tidy("\n".join(line.strip() for line in text.split("\n")))


# --------------------------------------------------------------------------- body walk

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass
class _Walk:
    bodies: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    broken: bool = False


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _render_text(part: Message, subtype: str) -> str:
    data = _payload_bytes(part)
    charset = _charset(part)
    if charset is None and subtype == "html":
        sniffed = _META_CHARSET.search(data[:4096])
        charset = sniffed.group(1).decode("ascii") if sniffed else None
    text = decode_bytes(data, charset).lstrip("\ufeff")
    return html_to_text(text) if subtype == "html" else _tidy(text)


def _add_attachment(walk: _Walk, part: Message, ctype: str, data: bytes) -> None:
    if not data:
        return
    name = _filename(part)
    if ctype == "application/octet-stream" and name:
        ctype = mimetypes.guess_type(name, strict=False)[0] or ctype
    if not name:
        ext = ".eml" if ctype == "message/rfc822" else (mimetypes.guess_extension(ctype, strict=False) or "")
        name = f"attachment-{len(walk.attachments) + 1}{ext}"
    walk.attachments.append(Attachment(filename=name, content_type=ctype, data=data))


def _walk(part: Message, walk: _Walk, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        return
    ctype = _content_type(part)
    maintype, _, subtype = ctype.partition("/")
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "message/rfc822":  # a forwarded mail: keep it whole
            inner = children[0] if children else None
            try:
                data = inner.as_bytes(policy=email.policy.compat32) if inner is not None else b""
            except Exception:
                data = b""
            _add_attachment(walk, part, "message/rfc822", data)
            return
        if subtype == "alternative":
            _walk_alternative(children, walk, depth)
            return
        for child in children:
            _walk(child, walk, depth + 1)
        return
    if maintype == "multipart":  # declared multipart, but no boundary / no parts
        walk.broken = True
        return
    disposition = _disposition(part)
    if maintype == "text" and subtype in ("plain", "html"):
        is_file = disposition == "attachment" or (disposition is not None and _filename(part) is not None)
        if not is_file:
            text = _render_text(part, subtype)
            if text:
                walk.bodies.append(text)
            return
    _add_attachment(walk, part, ctype, _payload_bytes(part))


def _walk_alternative(children: list[Message], walk: _Walk, depth: int) -> None:
    """Keep the text of the best alternative (plain before HTML) but the files of all (inline photos)."""
    best: tuple[int, list[str]] | None = None
    for child in children:
        sub = _Walk()
        _walk(child, sub, depth + 1)
        walk.attachments.extend(sub.attachments)
        if not sub.bodies:
            continue
        rank = 0 if _content_type(child) == "text/plain" else 1
        if best is None or rank < best[0]:
            best = (rank, sub.bodies)
    if best is not None:
        walk.bodies.extend(best[1])


# --------------------------------------------------------------------------- entry point

_MAIL_HEADERS = {
    "from",
    "sender",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "reply-to",
}
_NO_PARTS = (email.errors.NoBoundaryInMultipartDefect, email.errors.StartBoundaryNotFoundDefect)


def _header_block(raw: bytes) -> bytes:
    match = re.search(rb"\r?\n\r?\n", raw)
    return raw[: match.start()] if match else raw


def parse_mail(raw: bytes, *, max_attachments: int = MAX_ATTACHMENTS) -> ParsedMail:
    """Parse one raw RFC 822 message.

    Raises :class:`MailError` ``malformed_mail`` (not a mail), ``empty_mail`` (no text, no attachment) or
    ``too_many_attachments`` (more than ``max_attachments``).
    """
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise TypeError(f"parse_mail() wants bytes, not {type(raw).__name__}")
    if not raw.strip():
        raise MailError("malformed_mail", "empty input")
    if b"\x00" in _header_block(raw):
        raise MailError("malformed_mail", "binary data in the header block")

    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    names = {key.lower() for key, _value in msg.raw_items()}
    if not names & _MAIL_HEADERS:
        raise MailError("malformed_mail", "no mail header block")
    if any(isinstance(d, _NO_PARTS) for d in msg.defects):
        raise MailError("malformed_mail", "multipart without any part")

    walk = _Walk()
    _walk(msg, walk)
    if walk.broken and not msg.is_multipart():
        raise MailError("malformed_mail", "multipart without any part")

    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    sender_name, sender = senders[0] if senders else (None, None)
    recipients: list[str] = []
    for header in RECIPIENT_HEADERS:
        for _name, addr in _addresses(msg, header):
            if addr not in recipients:
                recipients.append(addr)
    message_id = "".join(decode_header(_first_header(msg, "Message-ID")).split()) or None
    subject = _clean_line(decode_header(_first_header(msg, "Subject")))
    text = "\n\n".join(walk.bodies)
    # parsed, not validated: what a request's text may not hold is dropped, so a hostile mail still becomes a case
    for attachment in walk.attachments:
        attachment.filename = clean_text(attachment.filename)
    text = clean_text(text)
    date = _date(msg)

    mail = ParsedMail(
        message_id=clean_text(message_id or "") or None,
        subject=clean_text(subject),
        sender=clean_text(sender or "") or None,
        sender_name=clean_text(sender_name or "") or None,
        recipients=[r for r in (clean_text(r) for r in recipients) if r],
        date=date if date is None or plausible_time(date, get_settings().clock_skew_s) else None,  # else: now
        text=text,
        attachments=walk.attachments,
    )
    if not text and not walk.attachments:
        if not sender and not subject:
            raise MailError("malformed_mail", "no sender, no subject, no body")
        raise MailError("empty_mail", mail=mail)
    if len(walk.attachments) > max_attachments:
        raise MailError(
            "too_many_attachments",
            f"{len(walk.attachments)} > {max_attachments}",
            mail=mail,
            count=len(walk.attachments),
            limit=max_attachments,
        )
    return mail
