"""Engine and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, TypeDecorator, event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

from dispatch.config import Settings, get_settings

_log = logging.getLogger(__name__)
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """The engine for ``url``. Waits are bounded (``SHANGLIANG_DB_*_TIMEOUT_S``): with the database down a
    request fails within seconds (503 ``database_unavailable``, dispatch/errors.py) rather than hanging.
    Statement parameters (phone numbers, contents) never appear in error messages or logs."""
    settings = get_settings()
    if url.startswith("sqlite"):
        busy = settings.db_busy_timeout_s
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy},
            pool_size=20,
            max_overflow=20,
            pool_timeout=settings.db_pool_timeout_s,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE takes the write lock up front.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # connections per process: every API process and worker holds up to pool + overflow, and PostgreSQL's
    # max_connections (100 by default) must cover them all.
    # pool_pre_ping: a connection the pool hands out is alive (a database restarted or a cut network leaves
    # dead ones in the pool; the ping replaces them), so the server recovers by itself when the database is
    # back. Its cost, measured: one round trip (~0.1 ms) per checkout, about two checkouts per request; on
    # the intake path one per group commit and one per relay pass, shared by the whole group.
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_timeout=settings.db_pool_timeout_s,
        connect_args={"connect_timeout": max(2, settings.db_connect_timeout_s)},
        hide_parameters=True,
    )


def get_engine(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    url = settings.sqlalchemy_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                settings.var_dir.mkdir(parents=True, exist_ok=True)
            engine = _engines[url] = make_engine(url)
        return engine


def _after_fork_in_child() -> None:
    # an RQ work horse must not share pooled connections with its parent
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def insert_rows(session: Session, model: type, rows: list[dict], *, returning: bool = False) -> list[int]:
    """Insert ``rows`` (column values; the same keys in every row) into ``model``'s table: no unit of work,
    written at once, so what they refer to must be flushed. With ``returning``, the new ids in order.

    On PostgreSQL several rows go in one ``COPY``, their ids taken from the table's sequence first: far less
    work on both sides than an INSERT per row, or one many-row VALUES statement (which psycopg parses anew
    each time)."""
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel table classes have it, undeclared
    if is_postgres(session) and len(rows) > 1:
        ids: list[int] = []
        if returning:
            ids = _next_ids(session, table, len(rows))
            rows = [{**row, "id": i} for row, i in zip(rows, ids, strict=True)]
        _copy(session, table, rows)
        return ids
    if returning:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(stmt, rows).scalars())
    session.execute(insert(table), rows)
    return []


def _copy(session: Session, table, rows: list[dict]) -> None:
    """``COPY`` the rows in the session's transaction, each value as an INSERT would bind it: the column's
    Python default when absent, JSON as text, datetimes through their type (aware, UTC)."""
    dialect = session.get_bind().dialect
    names = list(rows[0])
    defaults = {
        c.name: c.default
        for c in table.c
        if c.name not in rows[0] and c.default is not None and (c.default.is_scalar or c.default.is_callable)
    }
    columns = names + list(defaults)
    convert = []
    for name in columns:
        kind = table.c[name].type
        if isinstance(kind, JSON):
            convert.append(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        else:
            convert.append(kind.bind_processor(dialect))  # None when psycopg adapts the value as it is
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None  # a checked-out connection has its DBAPI connection
    cursor = driver.cursor()
    quoted = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({quoted}) FROM STDIN"
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                values = [row[n] for n in names]
                values += [d.arg if d.is_scalar else d.arg(None) for d in defaults.values()]
                copy.write_row([v if f is None else f(v) for v, f in zip(values, convert, strict=True)])
    except dialect.loaded_dbapi.Error as exc:
        # the driver's own error, past SQLAlchemy: wrap it as SQLAlchemy would (OperationalError for a lost
        # connection, which the error handlers answer 503), and drop a dead connection from the pool
        lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            statement,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        ) from exc


def nextvals(session: Session, sequence: str, n: int) -> list[int]:
    """``n`` values of a PostgreSQL sequence, in order, in one statement."""
    stmt = text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)")
    return list(session.execute(stmt, {"s": sequence, "n": n}).scalars())


_sequences: dict[str, str] = {}  # table name -> the sequence behind its id


def _next_ids(session: Session, table, n: int) -> list[int]:
    if table.name not in _sequences:
        name = session.get_bind().dialect.identifier_preparer.format_table(table)
        found = session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name}).scalar_one()
        _sequences[table.name] = found
    return nextvals(session, _sequences[table.name], n)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on every backend: stored as UTC, always returned aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def after_commit(session: Session, fn) -> None:
    """Run ``fn()`` once the session's current transaction has committed (relay, jobs, Redis sync)."""
    session.info.setdefault("after_commit", []).append(fn)


def after_rollback(session: Session, fn) -> None:
    """Run ``fn()`` if the current transaction rolls back (undo a Redis claim)."""
    session.info.setdefault("after_rollback", []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a SAVEPOINT was released; wait for the real commit
    session.info.pop("after_rollback", None)
    for fn in session.info.pop("after_commit", []):
        try:
            fn()
        except Exception:  # noqa: BLE001 - a failed side effect is retried by the maintenance loop
            _log.exception("after-commit hook failed")


@event.listens_for(Session, "after_soft_rollback")
def _run_after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is not None:
        return
    session.info.pop("after_commit", None)
    for fn in session.info.pop("after_rollback", []):
        try:
            fn()
        except Exception:  # noqa: BLE001
            _log.exception("after-rollback hook failed")
