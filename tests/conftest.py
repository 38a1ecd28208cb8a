"""Test harness: every test runs against a live server (uvicorn in a thread) on one of two backends.

- embedded (default): a fresh SQLite file copied from a migrated template and a fresh in-process Redis.
- services: with SHANGLIANG_DATABASE_URL and SHANGLIANG_REDIS_URL set (``make test-services``): PostgreSQL
  and Redis, truncated/flushed between tests. A service that cannot be reached fails the run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlmodel import Session

from dispatch import broker as broker_mod
from dispatch import wiring
from dispatch.config import get_settings
from dispatch.db import dispose_engines, get_engine
from dispatch.infra.wsframes import FanoutProtocol
from dispatch.intake import service as intake_service

SERVICES = bool(os.environ.get("SHANGLIANG_DATABASE_URL") or os.environ.get("SHANGLIANG_REDIS_URL"))
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
KEEP_TABLES = {"region", "alembic_version"}
SECRET_KEY = secrets.token_urlsafe(32)  # one per run: the processes a test starts inherit it
os.environ["SHANGLIANG_SECRET_KEY"] = SECRET_KEY  # apps built at import (test_schema_fuzz) need one too
wiring.install()  # tests that call services directly get the same follow-ups as the app


def _reset_process_state() -> None:
    get_settings.cache_clear()
    dispose_engines()
    broker_mod.set_broker(None)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory) -> Path | None:
    """Migrate once per run: a template SQLite file, or the PostgreSQL database itself."""
    from dispatch.migrate import upgrade

    if SERVICES:
        if not (os.environ.get("SHANGLIANG_DATABASE_URL") and os.environ.get("SHANGLIANG_REDIS_URL")):
            pytest.exit("set both SHANGLIANG_DATABASE_URL and SHANGLIANG_REDIS_URL for the services run", 2)
        _reset_process_state()
        try:
            with get_engine().begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            broker_mod.get_broker().ping()
        except Exception as exc:  # noqa: BLE001 - a missing service is a failure, not a skip
            pytest.exit(f"services backend unreachable: {exc!r}", 3)
        upgrade()
        _reset_process_state()
        return None
    var = tmp_path_factory.mktemp("template")
    os.environ["SHANGLIANG_VAR_DIR"] = str(var)
    _reset_process_state()
    upgrade()
    dispose_engines()
    return var / "shangliang.db"


@pytest.fixture
def env(migrated, tmp_path, monkeypatch, request) -> Iterator[None]:
    """A clean backend for one test; ``@pytest.mark.settings(offer_timeout_s=1)`` sets SHANGLIANG_* values."""
    marker = request.node.get_closest_marker("settings")
    for key, value in (marker.kwargs if marker else {}).items():
        monkeypatch.setenv(f"SHANGLIANG_{key.upper()}", str(value))
    monkeypatch.setenv("SHANGLIANG_SECRET_KEY", SECRET_KEY)
    var = tmp_path / "var"
    var.mkdir()
    monkeypatch.setenv("SHANGLIANG_VAR_DIR", str(var))
    if migrated is not None:
        shutil.copy(migrated, var / "shangliang.db")
    _reset_process_state()
    if SERVICES:
        engine = get_engine()
        with engine.begin() as conn:
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
            names = ", ".join(f'"{t}"' for t in tables if t not in KEEP_TABLES)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        broker_mod.get_broker().r.flushdb()
        from dispatch.regions.service import load_reference

        with Session(engine) as session:  # a test may have removed reference rows: put them back
            load_reference(session)
            session.commit()
    yield
    _reset_process_state()


class LiveServer:
    """uvicorn serving the real app in a thread, on a free port.

    Its sockets get small kernel send buffers (accepted sockets inherit them from the listener), so a client
    that stops reading creates back-pressure after kilobytes, as on a phone network, not after megabytes.
    """

    def __init__(self) -> None:
        from dispatch.app import create_app

        self.app = create_app(embedded_worker=True)
        config = uvicorn.Config(self.app, log_level="warning", ws=FanoutProtocol, lifespan="on")
        self.server = uvicorn.Server(config)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            threading.Event().wait(0.01)
        port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


@pytest.fixture
def server(env) -> Iterator[LiveServer]:
    with LiveServer() as live:
        yield live


@pytest.fixture
def db(env) -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


@pytest.fixture
def api(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "settings(**kw): SHANGLIANG_* settings for the test")


@pytest.fixture
def outage(env, monkeypatch):
    """(cut, restore): Redis unreachable as the app sees it — a cut TCP proxy in front of real Redis, or the
    in-process Redis disconnected."""
    if SERVICES:
        from netproxy import CuttableProxy

        target = urlsplit(os.environ["SHANGLIANG_REDIS_URL"])
        proxy = CuttableProxy((target.hostname, target.port or 6379))
        proxy.up()
        monkeypatch.setenv("SHANGLIANG_REDIS_URL", f"redis://127.0.0.1:{proxy.port}{target.path}")
        get_settings.cache_clear()
        broker_mod.set_broker(None)
        yield proxy.down, proxy.up
        proxy.down()
    else:
        fake = broker_mod.get_broker().server

        def cut() -> None:
            fake.connected = False

        def restore() -> None:
            fake.connected = True

        yield cut, restore


@pytest.fixture
def db_outage(env, monkeypatch):
    """(cut, restore): the database unusable as the app sees it, on either backend.

    - PostgreSQL: a cut TCP proxy in front of the real server (connections refused, open ones reset).
    - SQLite: another connection holding the file's write lock (BEGIN EXCLUSIVE): every transaction of the app
      begins IMMEDIATE, so each waits out the busy timeout (1 s here) and gets "database is locked" — what a
      stuck writer or another process does to the embedded database.
    """
    if SERVICES:
        from netproxy import CuttableProxy

        url = urlsplit(os.environ["SHANGLIANG_DATABASE_URL"])
        proxy = CuttableProxy((url.hostname, url.port or 5432))
        proxy.up()
        userinfo = url.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
        monkeypatch.setenv("SHANGLIANG_DATABASE_URL", url._replace(netloc=netloc).geturl())
        get_settings.cache_clear()
        dispose_engines()
        yield proxy.down, proxy.up
        proxy.down()
        dispose_engines()
        return
    import sqlite3

    monkeypatch.setenv("SHANGLIANG_DB_BUSY_TIMEOUT_S", "1")
    get_settings.cache_clear()
    dispose_engines()
    holder = sqlite3.connect(get_settings().var_dir / "shangliang.db", isolation_level=None, timeout=30)

    def cut() -> None:
        holder.execute("BEGIN EXCLUSIVE")

    def restore() -> None:
        if holder.in_transaction:
            holder.execute("ROLLBACK")

    yield cut, restore
    restore()
    holder.close()


@pytest.fixture
def held(monkeypatch):
    """(release, sizes): the first intake group waits until ``release`` is set; every group's size is recorded."""
    release = threading.Event()
    sizes: list[int] = []
    real = intake_service._write_group

    def write_group(batch):
        sizes.append(len(batch))
        if len(sizes) == 1:
            assert release.wait(30), "the test never released the first group"
        return real(batch)

    monkeypatch.setattr(intake_service, "_write_group", write_group)
    return release, sizes
