"""Settings from SHANGLIANG_* environment variables.

With none set, the embedded default applies: a SQLite file under ``var/`` and an in-process Redis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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

    max_body_bytes: int = 8 * 1024 * 1024
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
