"""Numbers of a series that restarts each day (tracking numbers: 0001 each day), taken ``n`` at a time.

PostgreSQL: one sequence per series and day (``nextval`` takes no lock, so concurrent intakes never wait on each
other; a rolled-back intake leaves a gap), created once outside the caller's transaction. SQLite serialises
writers anyway: a counter row per day in ``counter_table``.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from dispatch.db import nextvals

_known: set[tuple[str, str]] = set()  # (database, sequence) pairs known to exist
_lock = threading.Lock()


def _ensure(bind: Any, name: str, day: str, counter_table: str) -> None:
    """Create the day's sequence once, on its own connection (autocommit; not the app's pool, whose every
    connection may be busy). It continues from the day's counter row when one exists (numbers issued by the
    row counter) and is owned by ``{counter_table}.last``, so ``TRUNCATE ... RESTART IDENTITY`` restarts it."""
    engine = create_engine(bind.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
                return
            last = conn.execute(text(f"SELECT last FROM {counter_table} WHERE day = :d"), {"d": day}).scalar() or 0
            try:
                start = int(last) + 1
                conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name} START {start} OWNED BY {counter_table}.last"))
            except DBAPIError:  # another process created it at the same moment
                if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is None:
                    raise
    finally:
        engine.dispose()


def take(session: Session, series: str, day: str, n: int, *, counter_table: str) -> list[int]:
    """``n`` numbers of ``series`` for ``day`` (YYYYMMDD), in order, in the caller's transaction."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        name = f"{series}_{day}"
        key = (bind.engine.url.render_as_string(hide_password=True), name)
        if key not in _known:
            with _lock:
                if key not in _known:
                    _ensure(bind, name, day, counter_table)
                    _known.add(key)
        return nextvals(session, name, n)
    last = session.execute(
        text(
            f"INSERT INTO {counter_table} (day, last) VALUES (:day, :n) "
            f"ON CONFLICT (day) DO UPDATE SET last = {counter_table}.last + :n RETURNING last"
        ),
        {"day": day, "n": n},
    ).scalar_one()
    return list(range(last - n + 1, last + 1))
