"""The ``shangliang`` command: serve, worker, db upgrade, demo, users, apikeys, backup, restore."""

from __future__ import annotations

import logging
import os
import sys

import typer
from sqlmodel import Session

app = typer.Typer(help="Shangliang 商量 — command and dispatch for grassroots consultation.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Staff and member accounts.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys for machine callers (12345 platform, mail gateway, Open311).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="apikeys")
qr_app = typer.Typer(help="QR codes and posters for points and members.", no_args_is_help=True)
app.add_typer(qr_app, name="qr")


def _fail(message: str) -> None:
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(1)


def _require_secret_key() -> None:
    """Refuse to start a process that signs or reads tokens without a usable SHANGLIANG_SECRET_KEY."""
    from dispatch.config import InsecureSecretKey, require_secret_key

    try:
        require_secret_key()
    except InsecureSecretKey as exc:
        _fail(str(exc))


def _engine():
    import dispatch.models  # noqa: F401 - every table, so foreign keys resolve whichever command runs
    from dispatch.db import get_engine

    return get_engine()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the schema and load the reference regions (16 towns, 269 villages)."""
    from dispatch.migrate import upgrade

    try:
        added = upgrade(revision)
    except Exception as exc:  # noqa: BLE001 - say what to do next
        _fail(f"Migration failed: {exc}\nCheck SHANGLIANG_DATABASE_URL and that the database is reachable.")
    typer.echo(f"Database at {revision}; {added} reference regions added.")


@app.command()
def demo(members: int = 300, cases: int = 20) -> None:
    """Load the Yandu demo data (points, members, departments, sample cases) into an empty database."""
    from tqdm import tqdm

    from dispatch import demo as demo_data
    from dispatch.config import get_settings
    from dispatch.intake.service import submit
    from dispatch.regions.models import Region

    with Session(_engine()) as session:
        if session.get(Region, "320903") is None:
            _fail("No reference regions: run `shangliang db upgrade` first.")
        if not demo_data.is_empty(session):
            typer.echo("The database already holds members; demo data not loaded.")
            return
        villages = 269
        with tqdm(total=villages + members, desc="points and members", unit="row") as bar:
            counts = demo_data.load(session, members=members, progress=bar.update)
    from dispatch.members.service import rebuild_locator

    with Session(_engine()) as session:
        rebuild_locator(session)
    for new in tqdm(demo_data.sample_cases(cases), desc="sample cases", unit="case"):
        submit(new)
    with Session(_engine()) as session:
        accounts = demo_data.create_accounts(session)
    path = demo_data.write_accounts(accounts, get_settings().var_dir)
    typer.echo(
        f"Demo loaded: {counts['points']} points, {counts['members']} members, "
        f"{counts['departments']} departments, {cases} sample cases."
    )
    typer.echo("Sign in at /login with (shown once; also in " + str(path) + "):")
    for a in accounts:
        typer.echo(f"  {a.role:<11} {a.username:<11} {a.password}  {a.member}".rstrip())


@users_app.command("create")
def users_create(
    username: str = typer.Option(...),
    password: str = typer.Option(...),
    role: str = typer.Option(..., help="admin|operator|supervisor|member"),
    member_id: int | None = typer.Option(None),
) -> None:
    """Create an account."""
    from dispatch.auth.service import create_user
    from dispatch.errors import AppError

    with Session(_engine(), expire_on_commit=False) as session:  # user.id is read after the session closes
        try:
            user = create_user(session, username, password, role, member_id)
            session.commit()
        except AppError as exc:
            _fail(exc.message)
    typer.echo(f"Created {role} account {username} (id {user.id}).")


@keys_app.command("create")
def apikeys_create(
    name: str = typer.Option(...), scopes: str = typer.Option("hotline,mail,open311", help="comma-separated")
) -> None:
    """Create an API key; the key is the last word printed (shown once, stored hashed)."""
    from dispatch.auth.service import create_api_key

    with Session(_engine(), expire_on_commit=False) as session:  # key.id is read after the session closes
        key, raw = create_api_key(session, name, scopes)
        session.commit()
    typer.echo(f"API key {key.id} for {name} ({scopes}): {raw}")


@qr_app.command("posters")
def qr_posters(
    town: str = typer.Option(..., help="town code: every active point of it, one A4 page each"),
    out: str = typer.Option(..., help="the PDF file to write"),
) -> None:
    """Print the A4 posters of a town's points into one PDF."""
    from pathlib import Path

    from tqdm import tqdm

    from dispatch.errors import AppError
    from dispatch.qrcodes import service as qrcodes

    with Session(_engine()) as session:
        try:
            points = qrcodes.town_points(session, town)
            if not points:
                _fail(f"No active points in town {town}.")
            with tqdm(total=len(points), desc="posters", unit="page") as bar:
                pdf = qrcodes.posters_pdf(session, points, progress=bar.update)
        except AppError as exc:
            _fail(exc.message)
    Path(out).write_bytes(pdf)
    typer.echo(f"Wrote {len(points)} posters for town {town} to {out}.")


@qr_app.command("rotate")
def qr_rotate(
    point: int | None = typer.Option(None, help="point id"), member: int | None = typer.Option(None, help="member id")
) -> None:
    """Issue a new code for a point (or a member); the old one then shows "this code was replaced"."""
    from dispatch.errors import AppError
    from dispatch.points import service as points
    from dispatch.qrcodes import service as qrcodes

    if (point is None) == (member is None):
        _fail("Give exactly one of --point or --member.")
    with Session(_engine(), expire_on_commit=False) as session:
        try:
            if point is not None:
                url = points.qr_url(points.rotate(session, points.get(session, point)))
            else:
                assert member is not None  # exactly one of the two, checked above
                url = qrcodes.member_url(qrcodes.rotate_member(session, member))
            session.commit()
        except AppError as exc:
            _fail(exc.message)
    typer.echo(f"New code for {'point' if point is not None else 'member'} {point or member}: {url}")


@qr_app.command("png")
def qr_png(
    out: str = typer.Option(..., help="the PNG file to write"),
    point: int | None = typer.Option(None, help="point id"),
    member: int | None = typer.Option(None, help="member id"),
) -> None:
    """Write a point's (or a member's personal) QR code as a PNG."""
    from pathlib import Path

    from dispatch.errors import AppError
    from dispatch.points import service as points
    from dispatch.qrcodes import service as qrcodes
    from qr import codes

    if (point is None) == (member is None):
        _fail("Give exactly one of --point or --member.")
    with Session(_engine(), expire_on_commit=False) as session:
        try:
            if point is not None:
                url = points.qr_url(points.get(session, point))
            else:
                assert member is not None  # exactly one of the two, checked above
                url = qrcodes.member_url(qrcodes.member_token(session, member))
        except AppError as exc:
            _fail(exc.message)
    Path(out).write_bytes(codes.png(url))
    typer.echo(f"Wrote {out}: {url}")


def _archive(action: str, path: str):
    """Run backup or restore of ``path`` with per-table progress; a refusal exits with its code and message."""
    from pathlib import Path

    from tqdm import tqdm

    from dispatch.config import get_settings
    from dispatch.observability import backup as archive

    try:
        return getattr(archive, action)(
            _engine(),
            Path(path),
            get_settings().upload_dir,
            progress=lambda name, total: tqdm(total=total, desc=name, unit="row", leave=False),
        )
    except archive.BackupError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(exc.exit_code) from None


@app.command()
def backup(path: str = typer.Argument(..., help="the archive to write, e.g. shangliang-2026-05-01.tar.gz")) -> None:
    """Write every table (one consistent snapshot) and the uploads to a portable .tar.gz archive."""
    summary = _archive("backup", path)
    rows = sum(summary.tables.values())
    typer.echo(
        f"Backup written to {path}: {len(summary.tables)} tables, {rows} rows, {summary.uploads} uploaded files "
        f"(schema revision {summary.revision})."
    )


@app.command()
def restore(path: str = typer.Argument(..., help="an archive written by `shangliang backup`")) -> None:
    """Load a backup into an empty database migrated to the backup's revision (`shangliang db upgrade` first)."""
    summary = _archive("restore", path)
    rows = sum(summary.tables.values())
    typer.echo(f"Restored {path}: {len(summary.tables)} tables, {rows} rows, {summary.uploads} uploaded files.")
    try:  # the dispatcher's Redis state follows the restored members
        from dispatch.members.service import rebuild_locator

        with Session(_engine()) as session:
            rebuild_locator(session)
    except Exception as exc:  # noqa: BLE001 - Redis may be down; the dispatcher rebuilds on its own then
        typer.echo(f"Redis not updated ({exc.__class__.__name__}); the dispatcher rebuilds it when it can.")


def _links_follow(host: str, port: int) -> str | None:
    """Without SHANGLIANG_PUBLIC_BASE_URL, QR codes, posters and reply links lead to the address served here
    (set in the environment, so uvicorn's worker processes and the in-process RQ worker see it too); a
    wildcard host becomes 127.0.0.1. Returns the URL chosen, or None when the setting was given."""
    from dispatch.config import get_settings

    if os.environ.get("SHANGLIANG_PUBLIC_BASE_URL", "").strip():
        return None
    link_host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    if ":" in link_host:
        link_host = f"[{link_host}]"
    os.environ["SHANGLIANG_PUBLIC_BASE_URL"] = url = f"http://{link_host}:{port}"
    get_settings.cache_clear()
    return url


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the API and pages (embedded default: also runs the RQ worker in-process)."""
    _require_secret_key()
    import uvicorn

    from dispatch.clientaddr import trusted_networks
    from dispatch.config import get_settings
    from dispatch.infra.wsframes import FanoutProtocol
    from dispatch.observability.logs import log_config

    base_url = _links_follow(host, port)
    settings = get_settings()
    if settings.embedded_redis and workers > 1:
        _fail("The embedded default is one process; set SHANGLIANG_REDIS_URL to run several workers.")
    if settings.embedded_db:
        from dispatch.migrate import upgrade

        upgrade()
    mode = "embedded (SQLite + in-process Redis)" if settings.embedded_redis else "PostgreSQL + Redis"
    typer.echo(f"Shangliang on http://{host}:{port} — {mode}")
    if base_url:
        typer.echo(f"QR codes, posters and links use {base_url}; set SHANGLIANG_PUBLIC_BASE_URL to the public address")
    else:
        typer.echo(f"QR codes, posters and links use {settings.public_base_url} (SHANGLIANG_PUBLIC_BASE_URL)")
    # uvicorn believes X-Forwarded-* from SHANGLIANG_TRUSTED_PROXIES only (not its FORWARDED_ALLOW_IPS default)
    trusted = ",".join(str(net) for net in trusted_networks())
    uvicorn.run(
        "dispatch.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=log_config(settings.log_format, settings.log_level),  # JSON access logs too, in every worker
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        ws=FanoutProtocol,  # uvicorn's websockets-sansio, plus direct frame writes for the hub
    )


@app.command()
def worker(
    burst: bool = False,
    queues: str = typer.Option(
        "default,analysis",
        help="which queues: default (offer timeouts, ladder, replies), analysis (hotspot detection), or both",
    ),
    nice: int = typer.Option(0, min=0, max=19, help="lower this worker's CPU priority (compose: 10 for analysis)"),
) -> None:
    """Run an RQ worker with the scheduler (production; the embedded default runs one in `serve`).

    Give the analysis queue a worker of its own (compose does), at a lower CPU priority, so a long detection
    never delays the short jobs nor takes a core from intake on a small machine. Such a worker runs its jobs
    in its own process instead of forking one per job: the tokens of the cases already seen are kept from one
    detection to the next.
    """
    _require_secret_key()
    from rq import SimpleWorker, Worker

    import workers.jobs  # noqa: F401 - every job's module and the case subscriptions, before any fork
    from dispatch.broker import get_broker
    from dispatch.config import get_settings
    from dispatch.maintenance import Maintenance
    from dispatch.observability.jobs import ContextJob

    settings = get_settings()
    broker = get_broker()
    if broker.embedded:
        _fail("`shangliang worker` needs SHANGLIANG_REDIS_URL; the embedded default runs its worker in `serve`.")
    if settings.imap_url:
        from dispatch.intake.flows import schedule_poll

        schedule_poll()
    by_name = {"default": broker.queue, "analysis": broker.analysis_queue}
    names = [n.strip() for n in queues.split(",") if n.strip()]
    if not names or any(n not in by_name for n in names):
        _fail(f"--queues takes default and/or analysis, comma-separated (got {queues!r}).")
    chosen = [by_name[n] for n in names]
    if nice:
        os.nice(nice)  # inherited by the work horses and the scheduler
    maintenance = Maintenance()
    maintenance.start()
    try:
        worker_class = SimpleWorker if names == ["analysis"] else Worker
        worker_class(chosen, connection=broker.raw, job_class=ContextJob).work(with_scheduler=True, burst=burst)
    finally:
        maintenance.request_stop()
        maintenance.join()


def main() -> None:
    from dispatch import wiring
    from dispatch.observability.logs import configure_logging

    wiring.install()  # the case subscriptions, for every command that changes cases

    try:
        configure_logging()  # SHANGLIANG_LOG_FORMAT=json|text, SHANGLIANG_LOG_LEVEL
    except ValueError as exc:  # a bad setting: say so, with readable logs
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        logging.getLogger(__name__).error("logging settings: %s", exc)
    app()


if __name__ == "__main__":
    main()
