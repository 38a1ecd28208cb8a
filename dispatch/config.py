"""Settings from SHANGLIANG_* environment variables.

With none set, the embedded default applies: a SQLite file under ``var/`` and an in-process Redis.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHANGLIANG_", env_file=None, extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    var_dir: Path = ROOT / "var"
    # signs sign-in tokens (see secret_keys): required with PostgreSQL/Redis; unset on the embedded default, a
    # random key is made once in var/secret_key. Previous keys (comma-separated) only verify, for rotation.
    secret_key: str | None = None
    previous_secret_keys: str = ""
    token_ttl_s: int = 12 * 3600
    # how often each API process re-checks the sessions of its open sockets (sign-out, deactivation...)
    session_check_interval_s: float = 2.0

    dispatch_radius_km: float = 5.0
    offer_timeout_s: int = 900
    finish_deadline_h: int = 7 * 24
    sweep_interval_s: float = 5.0
    relay_interval_s: float = 0.5
    reconcile_interval_s: float = 60.0

    # deadlines (dispatch/deadlines): the active policy profile and the escalation ladder
    deadline_profile: str = "beijing"
    ladder_reminder_pct: int = 75
    ladder_red_after_working_days: int = 2
    ladder_supervision_after_working_days: int = 1
    ladder_sweep_grace_s: float = 30.0

    stream_key: str = "shangliang:events"
    stream_maxlen: int = 100_000
    socket_queue_size: int = 1000
    socket_buffer_bytes: int = 256 * 1024  # unsent bytes after which a board that stopped reading is cut
    # shortest time between two passes over a process's sockets: events within it share one write per socket
    fanout_interval_ms: int = 20

    max_body_bytes: int = 8 * 1024 * 1024
    # PostgreSQL connections per process (pool + overflow); all processes together must stay under the server's
    # max_connections (100 by default: e.g. 2 API processes + 2 workers × 20 = 80)
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # bounded waits while the database is down or overloaded (then 503 database_unavailable): connecting to
    # PostgreSQL (whole seconds, at least 2), waiting for a free pooled connection, and SQLite's wait for the
    # file's write lock
    db_connect_timeout_s: int = 5
    db_pool_timeout_s: float = 10.0
    db_busy_timeout_s: float = 30.0
    max_photo_bytes: int = 5 * 1024 * 1024
    public_base_url: str = "http://127.0.0.1:8000"
    hotline_number: str = "12345"
    # map tiles for the board, e.g. "https://tiles.example.cn/{z}/{x}/{y}.png"; empty: boundaries only
    map_tile_url: str = ""
    map_tile_attribution: str = ""

    imap_url: str | None = None
    imap_poll_s: int = 60
    mail_domain: str = "yandu.gov.cn"

    embedded_worker: bool = True

    # replies to residents (dispatch/notifications, docs/notifications.md): e-mail through "log" or "smtp";
    # SMS always goes through the log backend until an SMS gateway backend exists
    notify_backend: str = "log"
    notify_max_attempts: int = 5
    notify_backoff_s: float = 60.0  # doubled after each failed attempt, at most an hour
    notify_sweep_grace_s: float = 120.0  # a pending row this late has lost its job: the sweeper sends it
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str | None = None  # default: noreply@<mail_domain>
    smtp_timeout_s: float = 10.0
    # callbacks (回访, dispatch/callbacks): a task per resolution, another when unrated this many days later
    callback_unrated_days: float = 3.0
    callback_due_h: float = 24.0

    # operations (docs/operations.md): log format json|text, log level, and the bearer token Prometheus sends
    # to GET /metrics (unset: only direct requests from this host are answered)
    log_format: Literal["json", "text"] = "text"
    log_level: str = "INFO"
    metrics_token: str | None = None

    # hardening (dispatch/ratelimit.py, docs/security.md): JSON overrides of the rate-limit rules, e.g.
    # {"qr": {"ip": "10/60", "token": "30/60"}}; proxies (addresses or networks, comma-separated) whose
    # X-Forwarded-For is believed
    rate_limits: dict[str, dict[str, str]] = {}
    trusted_proxies: str = ""
    # how far a client-supplied time (a work order's received_at) may be ahead of this server's clock
    clock_skew_s: int = 300
    max_image_pixels: int = 40_000_000

    @property
    def embedded(self) -> bool:
        """The embedded default: neither PostgreSQL nor Redis configured."""
        return self.embedded_db and self.embedded_redis

    @property
    def embedded_db(self) -> bool:
        return not self.database_url

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{self.var_dir / 'shangliang.db'}"

    @property
    def upload_dir(self) -> Path:
        return self.var_dir / "uploads"


@lru_cache
def get_settings() -> Settings:
    return Settings()


# ---- the secret key -------------------------------------------------------------------------------------

MIN_SECRET_KEY_CHARS = 32
MAKE_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
# values published in this repository, its history, its CI or common examples: anyone may sign with them
PLACEHOLDER_SECRET_KEYS = frozenset(
    {
        "dev-only-change-me",
        "change-me",
        "changeme",
        "change-this",
        "secret",
        "secret-key",
        "secretkey",
        "your-secret-key",
        "mysecretkey",
        "ci-only",
        "test-secret",
        "bench-secret",
        "shangliang",
    }
)
SECRET_KEY_FILE = "secret_key"


class InsecureSecretKey(RuntimeError):
    """The configured secret key cannot protect sign-in tokens; the message says how to make one."""


def _refusal(name: str, zh: str, en: str) -> InsecureSecretKey:
    return InsecureSecretKey(
        f"拒绝启动：{name} {zh}。\n"
        f"Refusing to start: {name} {en}.\n"
        f"生成密钥 / Make a key:  {MAKE_KEY}\n"
        f"然后在每个 API 与 worker 进程中设置 / then set it, the same, for every API and worker process:  "
        f"SHANGLIANG_SECRET_KEY=<key>"
    )


def _check_key(name: str, key: str) -> None:
    lowered = key.strip().lower()
    if lowered in PLACEHOLDER_SECRET_KEYS or any(w in lowered for w in ("change-me", "changeme", "change_me")):
        raise _refusal(
            name, "是公开的占位值，任何人都能用它伪造令牌", "is a published placeholder anyone can sign tokens with"
        )
    if len(key) < MIN_SECRET_KEY_CHARS:
        raise _refusal(
            name,
            f"太短（{len(key)} 个字符，至少 {MIN_SECRET_KEY_CHARS} 个）",
            f"is too short ({len(key)} characters; at least {MIN_SECRET_KEY_CHARS})",
        )
    if len(set(key)) < 8:
        raise _refusal(name, "字符种类太少，不是随机值", "has too few different characters to be random")


def _var_key(var_dir: Path) -> str:
    """The embedded default's own random key: made once (mode 0600) in the var dir, then read."""
    path = var_dir / SECRET_KEY_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = var_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48) + "\n")
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # atomic, and never over a key another process made first
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    _check_key(str(path), key)
    return key


@lru_cache(maxsize=8)
def _keys(secret_key: str | None, previous: str, var_dir: Path, embedded: bool) -> tuple[str, ...]:
    if secret_key:
        _check_key("SHANGLIANG_SECRET_KEY", secret_key)
        current = secret_key
    elif embedded:
        current = _var_key(var_dir)
    else:
        raise _refusal(
            "SHANGLIANG_SECRET_KEY",
            "未设置（设置了 SHANGLIANG_DATABASE_URL 或 SHANGLIANG_REDIS_URL 时必须设置）",
            "is not set (it is required once SHANGLIANG_DATABASE_URL or SHANGLIANG_REDIS_URL is set)",
        )
    older = [k.strip() for k in previous.split(",") if k.strip()]
    for key in older:
        _check_key("SHANGLIANG_PREVIOUS_SECRET_KEYS", key)
    return (current, *[k for k in older if k != current])


def secret_keys(settings: Settings | None = None) -> tuple[str, ...]:
    """The key that signs tokens, then the previous keys that still verify them.

    The one rule for the key, checked by every entry point at start (``require_secret_key``) and again
    wherever a token is signed or read: a key that is set must be at least 32 characters, not a known
    placeholder; with PostgreSQL or Redis configured it must be set. Raises ``InsecureSecretKey``.
    """
    s = settings or get_settings()
    return _keys(s.secret_key, s.previous_secret_keys, s.var_dir, s.embedded)


def require_secret_key(settings: Settings | None = None) -> None:
    """Refuse to start (``InsecureSecretKey``) without a usable key; make the embedded default's one."""
    secret_keys(settings)
