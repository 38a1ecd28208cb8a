"""`shangliang backup` / `shangliang restore`: every table restored row by row (and the uploads), across
backends, and clear refusals for a non-empty database, an unmigrated one, or another schema revision."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from alembic.script import ScriptDirectory
from conftest import SERVICES, LiveServer
from helpers import api_key, auth, user_token
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from dispatch import broker as broker_mod
from dispatch.cli import app
from dispatch.config import Settings, get_settings
from dispatch.db import dispose_engines, make_engine
from dispatch.migrate import alembic_config
from dispatch.observability.backup import tables_of

runner = CliRunner()
# a 1×1 PNG: a resident's photo, stored as bytes in the database
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def invoke(*args: str):
    return runner.invoke(app, list(args))


def use(monkeypatch, var_dir: Path, database_url: str | None) -> None:
    """Point this process (settings, engine, broker) at another database."""
    var_dir.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("SHANGLIANG_VAR_DIR", str(var_dir))
    if database_url:
        monkeypatch.setenv("SHANGLIANG_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("SHANGLIANG_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    dispose_engines()
    broker_mod.set_broker(None)


def engine_for(var_dir: Path, database_url: str | None) -> Engine:
    return make_engine(Settings(var_dir=var_dir, database_url=database_url).sqlalchemy_url)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every table, every row, every column, in primary-key order."""
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names()) - {"alembic_version"}
        tables = tables_of(conn)
        assert {t.name for t in tables} == names  # nothing left out
        out = {}
        for table in tables:
            present = {c["name"] for c in inspect(conn).get_columns(table.name)}
            columns = [c for c in table.columns if c.name in present]
            rows = conn.execute(select(*columns).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
        if conn.dialect.name == "postgresql":  # the last tracking number per day lives in a sequence per day
            last = dict(out["tracking_counter"])
            for name, value in conn.execute(text("SELECT sequencename, last_value FROM pg_sequences")):
                if name.startswith("tracking_no_") and value is not None:
                    day = name.removeprefix("tracking_no_")
                    last[day] = max(last.get(day, 0), value)
            out["tracking_counter"] = sorted(last.items())
    engine.dispose()
    return out


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def previous_revision() -> str:
    scripts = ScriptDirectory.from_config(alembic_config())
    return scripts.get_revision(scripts.get_current_head()).down_revision


@pytest.fixture
def pg_database(env) -> Iterator[Callable]:
    """Creates empty databases beside the test database (PostgreSQL); drops them afterwards."""
    base = urlsplit(os.environ["SHANGLIANG_DATABASE_URL"])
    admin = create_engine(
        Settings(database_url=os.environ["SHANGLIANG_DATABASE_URL"]).sqlalchemy_url, isolation_level="AUTOCOMMIT"
    )
    made: list[str] = []

    def make(suffix: str) -> str:
        name = f"{base.path.lstrip('/')}_{suffix}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return urlunsplit(base._replace(path=f"/{name}"))

    yield make
    dispose_engines()
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fill_through_the_api() -> None:
    """Cases from several doors, a photo, an assignment with progress, a merge into a newer case."""
    with LiveServer() as live, httpx.Client(base_url=live.url, timeout=30) as api:
        op = user_token(api, "operator", "backup-op")
        key = api_key()
        points = api.get("/api/points", headers=auth(op)).json()
        ids = []
        for i in range(4):
            res = api.post(
                "/api/intake/hotline",
                headers={"X-API-Key": key},
                json={"external_id": f"bk-{i}", "content": f"第{i}号工单：路灯不亮", "lat": 33.35, "lon": 120.15},
            )
            assert res.status_code == 201, res.text
            ids.append(res.json()["id"])
        res = api.post(
            f"/api/intake/qr/{points[0]['qr_token']}",
            data={"content": "垃圾没人清运", "category": "城乡建设"},
            files=[("photos", ("p.png", PNG, "image/png"))],
        )
        assert res.status_code == 201, res.text
        members = api.get("/api/members", headers=auth(op)).json()
        res = api.post(f"/api/cases/{ids[1]}/assign", json={"member_id": members[0]["id"]}, headers=auth(op))
        assert res.status_code == 200, res.text
        res = api.post(f"/api/cases/{ids[1]}/progress", json={"note": "已到现场"}, headers=auth(op))
        assert res.status_code == 200, res.text
        # an older case merged into a newer one: a reference to a row restored after it
        res = api.post(f"/api/cases/{ids[0]}/merge", json={"into_id": ids[3]}, headers=auth(op))
        assert res.status_code == 200, res.text


def make_source() -> tuple[dict[str, list[tuple]], dict[str, bytes]]:
    """Demo data plus API traffic in the current backend, and an uploaded file; returns what it holds."""
    result = invoke("demo", "--members", "60", "--cases", "8")
    assert result.exit_code == 0, result.output
    fill_through_the_api()
    uploads = get_settings().upload_dir
    (uploads / "2026" / "11").mkdir(parents=True)
    (uploads / "2026" / "11" / "scan.pdf").write_bytes(b"%PDF-1.4 a scanned letter")
    dispose_engines()
    tables = snapshot(engine_for(get_settings().var_dir, get_settings().database_url))
    busy = {name for name, rows in tables.items() if rows}
    assert {"case", "case_event", "attachment", "offer", "member", "point", "outbox", "user_account"} <= busy
    assert any(row for row in tables["case"] if row[list_index("case", "merged_into_id")] is not None)
    return tables, files(uploads)


def list_index(table: str, column: str) -> int:
    from sqlmodel import SQLModel

    return [c.name for c in SQLModel.metadata.tables[table].columns].index(column)


def restore_and_compare(monkeypatch, archive: Path, var: Path, url: str | None, source, source_files) -> None:
    use(monkeypatch, var, url)
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    result = invoke("restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "Restored" in result.stdout
    dispose_engines()
    assert snapshot(engine_for(var, url)) == source
    assert files(var / "uploads") == source_files
    # a restored database keeps working: new ids follow the restored ones (sequences moved on PostgreSQL)
    with LiveServer() as live, httpx.Client(base_url=live.url, timeout=30) as api:
        res = api.post(
            "/api/intake/hotline", headers={"X-API-Key": api_key()}, json={"external_id": "after", "content": "又坏了"}
        )
        assert res.status_code == 201, res.text
        assert res.json()["id"] > max(row[0] for row in source["case"])
    # restoring again: the database is not empty any more
    result = invoke("restore", str(archive))
    assert result.exit_code == 2
    assert "not empty" in result.output and "shangliang db upgrade" in result.output


def test_backup_restores_every_table_and_upload_into_an_empty_database(env, tmp_path, monkeypatch, request):
    source, source_files = make_source()
    archive = tmp_path / "out" / "shangliang.tar.gz"
    result = invoke("backup", str(archive))
    assert result.exit_code == 0, result.output
    assert archive.is_file() and "Backup written" in result.stdout

    if SERVICES:  # PostgreSQL → a new PostgreSQL database, and PostgreSQL → SQLite
        target = request.getfixturevalue("pg_database")("restore")
        restore_and_compare(monkeypatch, archive, tmp_path / "pg", target, source, source_files)
    restore_and_compare(monkeypatch, archive, tmp_path / "sqlite", None, source, source_files)


@pytest.mark.skipif(not SERVICES, reason="cross-backend restore needs PostgreSQL")
def test_a_sqlite_backup_restores_into_postgresql(env, tmp_path, monkeypatch, pg_database):
    pg_url = os.environ["SHANGLIANG_DATABASE_URL"]
    use(monkeypatch, tmp_path / "lite", None)
    assert invoke("db", "upgrade").exit_code == 0
    source, source_files = make_source()
    archive = tmp_path / "lite.tar.gz"
    assert invoke("backup", str(archive)).exit_code == 0
    assert pg_url
    restore_and_compare(monkeypatch, archive, tmp_path / "pg", pg_database("cross"), source, source_files)


def test_restore_refuses_an_unmigrated_database_or_another_revision(env, tmp_path, monkeypatch):
    archive = tmp_path / "b.tar.gz"
    result = invoke("backup", str(archive))
    assert result.exit_code == 0, result.output

    use(monkeypatch, tmp_path / "bare", None)  # never migrated
    result = invoke("restore", str(archive))
    assert result.exit_code == 2
    assert "not migrated" in result.output and "shangliang db upgrade" in result.output

    older = previous_revision()
    use(monkeypatch, tmp_path / "older", None)
    assert invoke("db", "upgrade", "--revision", older).exit_code == 0
    result = invoke("restore", str(archive))
    assert result.exit_code == 2
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"backup is at schema revision {head}" in result.output and f"at {older}" in result.output
    with make_engine(f"sqlite:///{tmp_path / 'older' / 'shangliang.db'}").connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM member")).scalar() == 0  # nothing was written

    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    result = invoke("restore", str(tmp_path / "junk.tar.gz"))
    assert result.exit_code == 1 and "not a shangliang backup" in result.output
