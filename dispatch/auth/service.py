"""Accounts, passwords (argon2), signed bearer tokens and API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from dispatch.auth.models import ROLES, ApiKey, User
from dispatch.config import get_settings
from dispatch.db import after_commit, utcnow
from dispatch.errors import AppError, Conflict

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

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.id}" if self.kind == "user" else f"apikey:{self.id}"


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
    if len(password) < 8:
        raise AppError("weak_password", "密码至少 8 位", "The password needs at least 8 characters", status=422)
    if session.exec(select(User).where(User.username == username)).first():
        raise Conflict("username_taken", "用户名已存在", "That username is taken")
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
    from dispatch import ratelimit

    return ratelimit.peek("login", ip, f"{username}|{ip}")


def record_login(username: str, ip: str, ok: bool) -> None:
    from dispatch import ratelimit

    if ok:
        ratelimit.reset("login", f"{username}|{ip}")
    else:
        ratelimit.hit("login", ip, f"{username}|{ip}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(body: str) -> str:
    key = get_settings().secret_key.encode()
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def issue_token(user: User) -> tuple[str, int]:
    exp = int(time.time()) + get_settings().token_ttl_s
    body = _b64(json.dumps({"uid": user.id, "role": user.role, "mid": user.member_id, "exp": exp}).encode())
    return f"{body}.{_sign(body)}", exp


def read_token(token: str) -> dict | None:
    body, _, sig = token.partition(".")
    if not body or not sig or not hmac.compare_digest(sig, _sign(body)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return claims if claims.get("exp", 0) > time.time() else None


def principal_from_token(session: Session, token: str | None) -> Principal | None:
    claims = read_token(token) if token else None
    if not claims:
        return None
    user = session.get(User, claims["uid"])
    if user is None or not user.active:
        return None
    return Principal("user", user.id, user.role, user.member_id, user.username)


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
