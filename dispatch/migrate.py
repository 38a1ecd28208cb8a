"""Run Alembic migrations from code (``shangliang db upgrade``), then load the reference regions."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlmodel import Session

from dispatch.db import get_engine
from dispatch.regions.service import load_reference

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(revision: str = "head") -> int:
    """Migrate to ``revision``; returns how many reference regions were added."""

    command.upgrade(alembic_config(), revision)
    with Session(get_engine()) as session:
        added = load_reference(session)
        session.commit()
    return added
