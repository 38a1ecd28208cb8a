"""Settings from SHANGLIANG_* environment variables.

With none set, the embedded default applies: a SQLite file under ``var/`` and an in-process Redis.
"""

from __future__ import annotations

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
    secret_key: str = "dev-only-change-me"
    token_ttl_s: int = 12 * 3600

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
