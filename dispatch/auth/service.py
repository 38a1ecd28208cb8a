"""Accounts, passwords (argon2), signed bearer tokens backed by sessions, and API keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeGuard

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from dispatch import ratelimit
from dispatch.auth.models import ROLES, ApiKey, AuthSession, User
from dispatch.auth.passwords import check_password
from dispatch.config import get_settings, secret_keys
from dispatch.db import after_commit, get_engine, utcnow
from dispatch.errors import AppError, Conflict
from dispatch.members.models import Member

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user (role) or a machine key (scopes)."""

    kind: str  # user | apikey
    id: int
    role: str
    member_id: int | None = None
    name: str = ""
    scopes: frozenset[str] = frozenset()
    session: str | None = None  # a user's sign-in session (its digest), for sign-out and open sockets
    expires_at: float | None = None  # when that session ends (epoch seconds)

    @property
    def actor(self) -> str:
        """How case and audit trails name this caller: a member account acts as its member (``member:<member
        id>``, as the dispatcher's accept/decline do), other users as ``<role>:<user id>``, keys as ``apikey:<id>``."""
        if self.kind != "user":
            return f"apikey:{self.id}"
        if self.role == "member" and self.member_id is not None:
            return f"member:{self.member_id}"
        return f"{self.role}:{self.id}"


def actor_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Display names of trail actors (``operator:2`` → that user's username, ``member:7`` → the member's name,
    ``apikey:3`` → the key's name). Kinds without a row (resident, system, demo) are left to the page, which
    words them in its language."""
    tables = {"member": (Member.id, Member.name), "apikey": (ApiKey.id, ApiKey.name)}
    asked: dict[str, dict[int, list[str]]] = {}
    for actor in set(actors):
        kind, _, ident = actor.partition(":")
        if ident.isdigit() and kind in (*tables, *ROLES):
            asked.setdefault(kind if kind in tables else "user", {}).setdefault(int(ident), []).append(actor)
    names: dict[str, str] = {}
    for kind, by_id in asked.items():
        id_col, name_col = tables.get(kind, (User.id, User.username))
        for row_id, name in session.exec(select(id_col, name_col).where(col(id_col).in_(by_id))).all():
            assert row_id is not None  # a primary key
            names.update(dict.fromkeys(by_id[row_id], name))
    return names


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, username: str, password: str, role: str, member_id: int | None = None) -> User:
    if role not in ROLES:
        raise AppError("invalid_role", f"无效角色：{role}", f"Invalid role: {role}", status=422)
    if role == "member" and member_id is None:
        raise AppError("member_id_required", "委员账号须关联委员", "A member account needs --member-id", status=422)
    if session.exec(select(User).where(User.username == username)).first():
        raise Conflict("username_taken", "用户名已存在", "That username is taken")
    check_password(password, username)
    user = User(username=username, password_hash=hash_password(password), role=role, member_id=member_id)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        _hasher.hash(password)  # same work either way: no user enumeration by timing
        return None
    return user if verify_password(user.password_hash, password) else None


def login_blocked(username: str, ip: str) -> int:
    """Seconds until this username may try again from this address (0: go ahead).

    The ``login`` rule of ``dispatch.ratelimit`` (failures per name + address, and per address); with Redis
    down, logins are not throttled rather than refused.
    """

    return ratelimit.peek("login", ip, f"{username}|{ip}")


def record_login(username: str, ip: str, ok: bool) -> None:

    if ok:
        ratelimit.reset("login", f"{username}|{ip}")
    else:
        ratelimit.hit("login", ip, f"{username}|{ip}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- tokens and sessions --------------------------------------------------------------------------------
#
# A token is ``base64url(claims).base64url(HMAC-SHA256(key, that))``, claims {"v", "kid", "uid", "sid", "iat",
# "exp"}. ``kid`` names the key that signed it: SHANGLIANG_SECRET_KEY signs, SHANGLIANG_PREVIOUS_SECRET_KEYS
# only verify. ``sid`` is a random session id whose SHA-256 is the primary key of its ``auth_session`` row: a
# token is good while its signature, its lifetime (exp ≤ iat + SHANGLIANG_TOKEN_TTL_S) and its row (not
# revoked, not expired, user active) all are, checked in the one database read each request already made.

TOKEN_VERSION = 2
CLOCK_SKEW_S = 60  # leeway for another host's clock, on iat and on the lifetime cap
MAX_TOKEN_CHARS = 1024


def key_id(key: str) -> str:
    """A public name for a key that says nothing about it (the first bytes of an HMAC under the key)."""
    return _b64(hmac.new(key.encode(), b"shangliang token key id", hashlib.sha256).digest()[:6])


@lru_cache(maxsize=8)
def _keyring(keys: tuple[str, ...]) -> tuple[str, dict[str, bytes]]:
    return key_id(keys[0]), {key_id(k): k.encode() for k in reversed(keys)}  # the signing key wins a kid clash


def _signature(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def session_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def sign_claims(claims: dict[str, Any], key: str | None = None) -> str:
    """A token for ``claims`` under ``key`` (default: the signing key, whose ``kid`` is added)."""
    if key is None:
        kid, ring = _keyring(secret_keys())
        claims = {**claims, "kid": kid}
        key_bytes = ring[kid]
    else:
        key_bytes = key.encode()
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_signature(key_bytes, body)}"


def issue_token(session: Session, user: User) -> tuple[str, int]:
    """A new session for ``user`` and its token (the caller commits); also drops the user's expired sessions."""
    now = int(time.time())
    exp = now + get_settings().token_ttl_s
    sid = secrets.token_urlsafe(24)
    assert user.id is not None  # a user from the database
    session.exec(delete(AuthSession).where(col(AuthSession.user_id) == user.id, col(AuthSession.expires_at) < utcnow()))
    session.add(AuthSession(id=session_digest(sid), user_id=user.id, expires_at=datetime.fromtimestamp(exp, UTC)))
    session.flush()
    claims = {"v": TOKEN_VERSION, "uid": user.id, "sid": sid, "iat": now, "exp": exp}
    return sign_claims(claims), exp


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def read_token(token: str) -> dict | None:
    """The claims of a token signed by a current or previous key and within its lifetime, else None."""
    body, _, sig = token.partition(".")
    if not body or not sig or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
        return None
    _, ring = _keyring(secret_keys())
    kid = claims.get("kid")
    key = ring.get(kid) if isinstance(kid, str) else None
    if key is None or not hmac.compare_digest(sig, _signature(key, body)):
        return None
    iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
    if not (_int(iat) and _int(exp) and _int(claims.get("uid")) and isinstance(claims.get("sid"), str)):
        return None
    if iat > now + CLOCK_SKEW_S or exp - iat > get_settings().token_ttl_s + CLOCK_SKEW_S or exp <= now:
        return None  # issued in the future, or for longer than this server ever issues, or expired
    return claims


def principal_from_token(session: Session, token: str | None) -> Principal | None:
    claims = read_token(token) if token else None
    if not claims:
        return None
    digest = session_digest(claims["sid"])
    row = session.exec(
        select(User.id, User.role, User.member_id, User.username, AuthSession.expires_at)  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
        .join(AuthSession, col(AuthSession.user_id) == User.id)
        .where(
            AuthSession.id == digest,
            User.id == claims["uid"],
            col(AuthSession.revoked_at).is_(None),
            AuthSession.expires_at > utcnow(),
            col(User.active).is_(True),
        )
    ).first()
    if row is None:
        return None
    uid, role, member_id, username, expires_at = row
    ends = min(float(claims["exp"]), expires_at.timestamp())
    return Principal("user", uid, role, member_id, username, session=digest, expires_at=ends)


def live_sessions(session: Session, digests: Iterable[str]) -> set[str]:
    """Which of these sessions still hold: not revoked, not expired, their user active (one query per 500)."""
    wanted = list(dict.fromkeys(digests))
    alive: set[str] = set()
    for i in range(0, len(wanted), 500):
        alive.update(
            session.exec(
                select(AuthSession.id)
                .join(User, col(AuthSession.user_id) == User.id)
                .where(
                    col(AuthSession.id).in_(wanted[i : i + 500]),
                    col(AuthSession.revoked_at).is_(None),
                    AuthSession.expires_at > utcnow(),
                    col(User.active).is_(True),
                )
            ).all()
        )
    return alive


def check_sessions(digests: set[str]) -> set[str]:
    """``live_sessions`` in a session of its own: what the websocket hub asks every few seconds."""
    with Session(get_engine()) as session:
        return live_sessions(session, digests)


def revoke_session(session: Session, digest: str, reason: str = "sign_out") -> None:
    session.exec(
        update(AuthSession)
        .where(col(AuthSession.id) == digest, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


def revoke_token(session: Session, token: str | None) -> None:
    """Sign-out of the session a (still valid) token names; anything else is ignored."""
    claims = read_token(token) if token else None
    if claims:
        revoke_session(session, session_digest(claims["sid"]))


def revoke_user_sessions(session: Session, user_id: int, reason: str) -> int:
    """End every session of a user (password change, deactivation, role change); the number ended."""
    result = session.exec(
        update(AuthSession)
        .where(
            col(AuthSession.user_id) == user_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > utcnow(),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return result.rowcount or 0


def purge_sessions(session: Session) -> int:
    """Delete expired sessions (revoked ones too, once expired: until then they explain a refusal)."""
    result = session.exec(delete(AuthSession).where(col(AuthSession.expires_at) < utcnow()))
    return result.rowcount or 0


def set_password(session: Session, user: User, password: str) -> None:
    """A new password for ``user`` (checked by the password rule); every session of the user ends."""
    check_password(password, user.username)
    user.password_hash = hash_password(password)
    session.add(user)
    assert user.id is not None  # a user from the database
    revoke_user_sessions(session, user.id, "password_changed")


def create_api_key(session: Session, name: str, scopes: str = "hotline,mail,open311") -> tuple[ApiKey, str]:
    raw = "sl_" + secrets.token_urlsafe(24)
    key = ApiKey(name=name, key_hash=_key_hash(raw), prefix=raw[:8], scopes=scopes)
    session.add(key)
    session.flush()
    return key, raw


API_KEY_CACHE_S = 5.0  # a revocation reaches other processes within this; this process at once
_api_keys: dict[str, tuple[float, Principal]] = {}  # digest -> (valid until, monotonic; principal)
_lookups: dict[str, threading.Lock] = {}  # digest -> the lock of its one database read at a time
_lookups_guard = threading.Lock()


def _key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _remembered(digest: str) -> Principal | None:
    cached = _api_keys.get(digest)
    return cached[1] if cached is not None and cached[0] > time.monotonic() else None


def remembered_api_key(raw: str) -> Principal | None:
    """The principal of a key validated in the last ``API_KEY_CACHE_S`` seconds, else None (look it up)."""
    return _remembered(_key_hash(raw))


def principal_from_api_key(session: Session, raw: str | None) -> Principal | None:
    """The machine principal of a valid key. Valid keys are remembered for ``API_KEY_CACHE_S`` seconds, so a
    feed posting hundreds of work orders a second costs no database read per request."""
    if not raw:
        return None
    digest = _key_hash(raw)
    if (remembered := _remembered(digest)) is not None:
        return remembered
    with _lookups_guard:
        if len(_lookups) > 10_000:
            _lookups.clear()
        lock = _lookups.setdefault(digest, threading.Lock())
    with lock:  # when the key's entry expires under load, one request reads it; the others wait and reuse it
        if (remembered := _remembered(digest)) is not None:
            return remembered
        return _read_api_key(session, digest)


def _read_api_key(session: Session, digest: str) -> Principal | None:
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if key is None or key.revoked_at is not None:
        _api_keys.pop(digest, None)
        return None
    assert key.id is not None  # a key from the database
    principal = Principal("apikey", key.id, "machine", name=key.name, scopes=frozenset(key.scopes.split(",")))
    if len(_api_keys) > 10_000:  # only valid keys are kept, so this is a safety valve, not an eviction policy
        _api_keys.clear()
    _api_keys[digest] = (time.monotonic() + API_KEY_CACHE_S, principal)
    return principal


def revoke_api_key(session: Session, key_id: int) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        digest = key.key_hash
        after_commit(session, lambda: _api_keys.pop(digest, None))
    return key
