"""Backup and restore of the whole database (and the uploads) as one portable archive.

The archive is a ``.tar.gz`` holding ``manifest.json`` (format, alembic revision, per-table row counts and
SHA-256 checksums), one JSON-lines file per table under ``tables/`` and the files of ``var/uploads`` under
``uploads/``. Values are portable between SQLite and PostgreSQL: datetimes as ISO 8601 with offset (UTC),
dates as ISO dates, bytes as base64, JSON as JSON. Tables are read in one snapshot, streamed (``yield_per``)
and written in foreign-key order; a restore inserts in the same order, in batches, in one transaction.

Redis holds nothing that is not in the database: the live stream is fed from the outbox, the dispatcher's GEO
sets and loads are rebuilt from the members, and scheduled jobs (offer timeouts, ladder steps, follow-ups,
the weekly report) are found again by their sweepers.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    LargeBinary,
    Table,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

import dispatch.models  # noqa: F401 - every table

FORMAT = "shangliang-backup"
VERSION = 1
BATCH = 1000
# tables that `shangliang db upgrade` fills (reference regions, deadline policies, the holiday calendar): a
# restore replaces their rows with the backup's instead of requiring them empty
SEEDED = ("region", "deadline_policy", "calendar_day")
_IGNORED = {"alembic_version"}


class Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def close(self) -> Any: ...


ProgressFactory = Callable[[str, int], Progress]


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(_name: str, _total: int) -> Progress:
    return _NoProgress()


class BackupError(Exception):
    """The archive cannot be written or read (corrupt, wrong format, unknown table)."""

    exit_code = 1


class RestoreRefused(BackupError):
    """The target database is not a place to restore into; the message says what to do."""

    exit_code = 2


@dataclass
class Summary:
    revision: str
    tables: dict[str, int]
    uploads: int


# ---- values -------------------------------------------------------------------------------------------


def _kind(type_: TypeEngine) -> str:
    impl = type_.impl if isinstance(type_, TypeDecorator) else type_
    if isinstance(impl, DateTime):
        return "datetime"
    if isinstance(impl, Date):
        return "date"
    if isinstance(impl, LargeBinary):
        return "bytes"
    return "plain"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoder(kind: str) -> Callable[[Any], Any]:
    if kind == "datetime":

        def dt(v: str) -> datetime:
            parsed = datetime.fromisoformat(v)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

        return dt
    if kind == "date":
        return date.fromisoformat
    if kind == "bytes":
        return base64.b64decode
    return lambda v: v


# ---- schema -------------------------------------------------------------------------------------------


def _metadata():

    return SQLModel.metadata


def tables_of(bind: Engine | Connection) -> list[Table]:
    """The database's tables in foreign-key order; a table the code does not know is an error."""
    present = set(inspect(bind).get_table_names()) - _IGNORED
    meta = _metadata()
    unknown = present - set(meta.tables)
    if unknown:
        raise BackupError(f"Tables unknown to this version of shangliang: {', '.join(sorted(unknown))}")
    return [t for t in meta.sorted_tables if t.name in present]


def revision_of(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _pk(table: Table):
    return list(table.primary_key.columns)


def _self_refs(table: Table) -> list[str]:
    """Columns referencing the same table (``case.merged_into_id``): filled after the table's rows exist."""
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction for every table: a consistent backup while the service keeps running."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        return
    # SQLite: a deferred transaction (a WAL read snapshot), not the app's BEGIN IMMEDIATE that blocks writers
    reader = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(reader, "connect")
    def _autocommit_driver(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(reader, "begin")
    def _deferred(conn):
        conn.exec_driver_sql("BEGIN DEFERRED")

    try:
        with reader.connect() as conn, conn.begin():
            yield conn
    finally:
        reader.dispose()


# ---- backup -------------------------------------------------------------------------------------------


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def backup(
    engine: Engine, path: Path, upload_dir: Path | None = None, progress: ProgressFactory = _no_progress
) -> Summary:
    """Write the database (and ``upload_dir``) to the archive ``path``."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="sl-backup-") as tmp:
        work = Path(tmp)
        (work / "tables").mkdir()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "source": engine.dialect.name,
            "tables": [],
            "uploads": [],
        }
        with _snapshot(engine) as conn:
            revision = revision_of(conn)
            if revision is None:
                raise BackupError("The database is not migrated (no alembic_version); nothing to back up.")
            manifest["revision"] = revision
            for table in tables_of(conn):
                manifest["tables"].append(_dump_table(conn, table, work / "tables", progress))
        uploads = _files(upload_dir) if upload_dir else []
        for file in uploads:
            assert upload_dir is not None  # the uploads are its files
            rel = file.relative_to(upload_dir).as_posix()
            manifest["uploads"].append({"path": rel, "size": file.stat().st_size, "sha256": _sha256(file)})
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(work / "manifest.json", arcname="manifest.json")
            for entry in manifest["tables"]:
                tar.add(work / entry["file"], arcname=entry["file"])
            for file in uploads:
                assert upload_dir is not None  # the uploads are its files
                tar.add(file, arcname=f"uploads/{file.relative_to(upload_dir).as_posix()}")
        partial.replace(path)  # never a half-written archive under the final name
    return Summary(revision, {t["name"]: t["rows"] for t in manifest["tables"]}, len(uploads))


# PostgreSQL numbers tracking numbers with one sequence per day (cases.service.tracking_numbers), SQLite with a
# tracking_counter row per day; a backup carries the portable form: the counter rows, holding the last number
# issued by either. A restore into PostgreSQL starts each day's sequence after its counter row.
_DAY_SEQUENCES = (
    "SELECT sequencename, last_value FROM pg_sequences "
    "WHERE schemaname = current_schema() AND sequencename LIKE 'tracking\\_no\\_%'"
)


def _partitions(conn: Connection, table: Table, selected: list) -> Iterator[Sequence[Any]]:
    result = conn.execution_options(yield_per=BATCH).execute(select(*selected).order_by(*_pk(table)))
    if table.name != "tracking_counter" or conn.dialect.name != "postgresql":
        yield from result.partitions()
        return
    last = {row.day: row.last for row in result}  # one row per day: small
    for name, value in conn.execute(text(_DAY_SEQUENCES)):
        day = name.removeprefix("tracking_no_")
        if value is not None:
            last[day] = max(last.get(day, 0), value)
    yield [tuple({"day": day, "last": last[day]}[c.name] for c in selected) for day in sorted(last)]


def _dump_table(conn: Connection, table: Table, out: Path, progress: ProgressFactory) -> dict[str, Any]:
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    extra = present - set(table.columns.keys())
    if extra:
        raise BackupError(f"{table.name}: columns unknown to this version of shangliang: {', '.join(sorted(extra))}")
    selected = [c for c in table.columns if c.name in present]  # a column the schema lacks yet holds nothing
    columns = [c.name for c in selected]
    total = conn.execute(select(func.count()).select_from(table)).scalar_one()
    bar = progress(table.name, total)
    name = f"tables/{table.name}.jsonl"
    digest = hashlib.sha256()
    rows = 0
    try:
        with (out / f"{table.name}.jsonl").open("wb") as f:
            for partition in _partitions(conn, table, selected):
                for row in partition:
                    line = json.dumps(
                        {c: _encode(v) for c, v in zip(columns, row, strict=True)}, ensure_ascii=False
                    ).encode("utf-8")
                    f.write(line + b"\n")
                    digest.update(line + b"\n")
                    rows += 1
                bar.update(len(partition))
    finally:
        bar.close()
    return {"name": table.name, "file": name, "rows": rows, "sha256": digest.hexdigest(), "columns": columns}


# ---- restore ------------------------------------------------------------------------------------------


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            manifest = json.load(member)
    except (OSError, KeyError, tarfile.TarError, json.JSONDecodeError) as exc:
        raise BackupError(f"{archive} is not a shangliang backup: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{archive}: unsupported backup format {manifest.get('format')} {manifest.get('version')}")
    return manifest


def check_target(conn: Connection, manifest: dict[str, Any]) -> list[Table]:
    """Refuse unless the database is migrated to the backup's revision and holds no data of its own."""
    revision = revision_of(conn)
    wanted = manifest["revision"]
    if revision is None:
        raise RestoreRefused(
            f"The target database is not migrated. Run `shangliang db upgrade {wanted}` on it first, then restore."
        )
    if revision != wanted:
        raise RestoreRefused(
            f"The backup is at schema revision {wanted} but the target database is at {revision}. Restore into "
            f"an empty database migrated with `shangliang db upgrade {wanted}` (a shangliang version whose "
            f"migrations include it), then upgrade it to the current revision."
        )
    tables = tables_of(conn)
    holding = [
        t.name for t in tables if t.name not in SEEDED and conn.execute(select(1).select_from(t).limit(1)).first()
    ]
    if holding:
        raise RestoreRefused(
            "The target database is not empty (rows in: "
            + ", ".join(holding)
            + "). Restore only into a new database: create it, run `shangliang db upgrade`, then restore."
        )
    missing = {t["name"] for t in manifest["tables"]} - {t.name for t in tables}
    if missing:
        raise BackupError(f"The target database lacks tables of the backup: {', '.join(sorted(missing))}")
    return tables


def _safe_extract(tar: tarfile.TarFile, work: Path) -> None:
    """Regular files and directories only, all inside ``work``: refuses absolute paths, ``..`` and links (what
    ``filter="data"`` does; Debian bookworm's Python 3.11.2 predates that filter)."""
    root = work.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise tarfile.TarError(f"unsafe archive member: {member.name!r}")
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise tarfile.TarError(f"unreadable archive member: {member.name!r}")
        with source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)


def restore(
    engine: Engine, archive: Path, upload_dir: Path | None = None, progress: ProgressFactory = _no_progress
) -> Summary:
    """Load ``archive`` into the empty, migrated database of ``engine`` (one transaction) and its uploads."""
    manifest = read_manifest(archive)
    with tempfile.TemporaryDirectory(prefix="sl-restore-") as tmp:
        work = Path(tmp)
        with tarfile.open(archive, "r:gz") as tar:
            _safe_extract(tar, work)
        _verify(work, manifest)
        with engine.connect() as conn:
            check_target(conn, manifest)  # before taking a write lock: a clear refusal, not a wait
        with engine.begin() as conn:
            tables = {t.name: t for t in check_target(conn, manifest)}
            for table in reversed(list(tables.values())):
                if table.name in SEEDED:
                    conn.execute(table.delete())
            counts = {}
            for entry in manifest["tables"]:
                counts[entry["name"]] = _load_table(conn, tables[entry["name"]], work / entry["file"], entry, progress)
            if engine.dialect.name == "postgresql":
                _reset_sequences(conn, [tables[e["name"]] for e in manifest["tables"]])
        restored = _restore_uploads(work, manifest, upload_dir) if upload_dir else 0
    return Summary(manifest["revision"], counts, restored)


def _verify(work: Path, manifest: dict[str, Any]) -> None:
    for entry in manifest["tables"]:
        file = work / entry["file"]
        if not file.is_file() or _sha256(file) != entry["sha256"]:
            raise BackupError(f"The archive is damaged: {entry['file']} is missing or its checksum differs.")
    for entry in manifest["uploads"]:
        file = work / "uploads" / entry["path"]
        if not file.is_file() or _sha256(file) != entry["sha256"]:
            raise BackupError(f"The archive is damaged: uploads/{entry['path']} is missing or its checksum differs.")


def _load_table(conn: Connection, table: Table, file: Path, entry: dict[str, Any], progress: ProgressFactory) -> int:
    decoders = {c.name: _decoder(_kind(c.type)) for c in table.columns}
    unknown = set(entry["columns"]) - set(decoders)
    if unknown:
        raise BackupError(f"{table.name}: columns unknown to the target: {', '.join(sorted(unknown))}")
    later = _self_refs(table)
    pk = _pk(table)
    deferred: list[dict[str, Any]] = []
    bar = progress(table.name, entry["rows"])
    rows = 0
    batch: list[dict[str, Any]] = []
    try:
        with file.open("rb") as f:
            for line in f:
                raw = json.loads(line)
                row = {k: (None if v is None else decoders[k](v)) for k, v in raw.items()}
                if later and any(row.get(c) is not None for c in later):
                    deferred.append({**{c.name: row[c.name] for c in pk}, **{c: row[c] for c in later}})
                    row.update({c: None for c in later})
                batch.append(row)
                if len(batch) >= BATCH:
                    conn.execute(table.insert(), batch)
                    rows += len(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
                rows += len(batch)
                bar.update(len(batch))
    finally:
        bar.close()
    for values in deferred:
        where = [c == values[c.name] for c in pk]
        conn.execute(update(table).where(*where).values({c: values[c] for c in later}))
    if rows != entry["rows"]:
        raise BackupError(f"{table.name}: {rows} rows read, the manifest says {entry['rows']}")
    return rows


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: move every id sequence (and any day's tracking-number sequence) past the restored values."""
    for name, _value in conn.execute(text(_DAY_SEQUENCES)).all():
        last = conn.execute(
            text("SELECT last FROM tracking_counter WHERE day = :d"), {"d": name.removeprefix("tracking_no_")}
        ).scalar()
        if last:
            conn.execute(text("SELECT setval(:s, :v)"), {"s": name, "v": last})
    for table in tables:
        pk = _pk(table)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer):
            continue
        quoted = conn.dialect.identifier_preparer.quote(table.name)
        column = pk[0].name
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL)"
                f" FROM {quoted}"
            ),
            {"t": quoted, "c": column},
        )


def _restore_uploads(work: Path, manifest: dict[str, Any], upload_dir: Path) -> int:
    count = 0
    for entry in manifest["uploads"]:
        source = work / "uploads" / entry["path"]
        target = upload_dir / entry["path"]
        if target.exists():
            if _sha256(target) == entry["sha256"]:
                continue
            raise RestoreRefused(f"{target} exists with other content; restore into an empty uploads directory.")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        count += 1
    return count
