"""The ``shangliang`` command in-process (typer's CliRunner) against the test backend of the ``env`` fixture."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SERVICES
from procs import BIN
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from dispatch.auth.models import User
from dispatch.auth.service import authenticate, principal_from_api_key
from dispatch.cases.models import Case
from dispatch.cli import app
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.demo import SECTORS
from dispatch.departments.models import Department
from dispatch.intake.models import Mailbox
from dispatch.members.models import Member
from dispatch.points.models import Point
from dispatch.regions.models import Region
from dispatch.regions.reference import inside_district

YANDU = Path(__file__).resolve().parents[2] / "shared" / "data" / "yandu"
PASSWORD = "correct-horse-battery"

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def csv_codes(name: str) -> set[str]:
    with (YANDU / name).open(encoding="utf-8", newline="") as f:
        return {row["code"] for row in csv.DictReader(f)}


def count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def demo_counts() -> dict[str, int]:
    with Session(get_engine()) as session:
        return {m.__name__: count(session, m) for m in (Point, Member, Department, Mailbox, Case, Region)}


# --------------------------------------------------------------------------- db upgrade


def test_db_upgrade_is_idempotent_and_holds_the_reference_regions(env):
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "0 reference regions added" in result.stdout

    with Session(get_engine()) as session:
        regions = session.exec(select(Region)).all()
    by_level: dict[str, list[Region]] = {}
    for r in regions:
        by_level.setdefault(r.level, []).append(r)
    assert set(by_level) == {"district", "town", "village"}
    assert [r.code for r in by_level["district"]] == ["320903"]
    towns = {r.code for r in by_level["town"]}
    villages = {r.code for r in by_level["village"]}
    assert len(by_level["town"]) == 16 and len(by_level["village"]) == 269
    assert towns == csv_codes("streets.csv")
    assert villages == csv_codes("villages.csv")
    with (YANDU / "villages.csv").open(encoding="utf-8", newline="") as f:
        parents = {row["code"]: row["streetCode"] for row in csv.DictReader(f)}
    for r in regions:
        assert inside_district(r.lat, r.lon), (r.code, r.lat, r.lon)
        if r.level == "town":
            assert r.parent_code == "320903"
        elif r.level == "village":
            assert r.parent_code == parents[r.code]


# --------------------------------------------------------------------------- demo


def test_demo_loads_points_members_mailboxes_and_cases_once(env):
    result = invoke("demo", "--cases", "5")
    assert result.exit_code == 0, result.output
    assert re.search(r"269 points, 300 members, 10 departments, 5 sample cases", result.stdout), result.stdout

    with Session(get_engine()) as session:
        regions = {r.code: r for r in session.exec(select(Region)).all()}
        points = session.exec(select(Point)).all()
        members = session.exec(select(Member)).all()
        mailboxes = session.exec(select(Mailbox)).all()
        cases = session.exec(select(Case)).all()
        departments = count(session, Department)

    village_codes = {c for c, r in regions.items() if r.level == "village"}
    town_codes = {c for c, r in regions.items() if r.level == "town"}

    # one point per village, consistent with the regions table, inside the district
    assert len(points) == 269
    assert sorted(p.village_code for p in points) == sorted(village_codes)
    for p in points:
        assert p.town_code == regions[p.village_code].parent_code, p
        assert inside_district(p.lat, p.lon), (p.id, p.lat, p.lon)
    point_by_id = {p.id: p for p in points}

    # the default 300 members over all 18 sectors and three levels
    assert len(members) == 300
    assert {m.sector for m in members} == set(SECTORS) and len(SECTORS) == 18
    assert {m.level for m in members} == {"district", "town", "village"}
    for m in members:
        assert m.lat is not None and m.lon is not None, m
        assert inside_district(m.lat, m.lon), (m.id, m.lat, m.lon)
        if m.level != "district":
            assert m.town_code in town_codes, m
        if m.level == "village":
            assert m.village_code in village_codes and regions[m.village_code].parent_code == m.town_code, m
        if m.point_id is not None:
            assert m.point_id in point_by_id, m
    assert departments == 10

    # 18 sector mailboxes (one per sector) and a mailbox per member
    sector_boxes = [b for b in mailboxes if b.kind == "sector"]
    assert len(sector_boxes) == 18
    assert {b.sector for b in sector_boxes} == set(SECTORS)
    assert {b.member_id for b in mailboxes if b.kind == "member"} == {m.id for m in members}

    # five sample cases with distinct tracking numbers
    assert len(cases) == 5
    numbers = [c.tracking_no for c in cases]
    assert all(re.fullmatch(r"YD\d{8}-\d{4}", n) for n in numbers), numbers
    assert len(set(numbers)) == 5

    # one account per role, shown once and kept in var/demo-accounts.txt (owner only), each password working;
    # the member accounts are linked to on-duty members of three levels in three towns
    listed = re.findall(r"^\s*(admin|operator|supervisor|member)\s+(\S+)\s+(\S+)", result.stdout, re.M)
    assert [role for role, _, _ in listed] == ["admin", "operator", "supervisor", "member", "member", "member"]
    path = get_settings().var_dir / "demo-accounts.txt"
    assert str(path) in result.stdout and path.stat().st_mode & 0o777 == 0o600
    kept = path.read_text(encoding="utf-8")
    by_id = {m.id: m for m in members}
    linked = []
    with Session(get_engine()) as session:
        for role, username, password in listed:
            assert f"{username:<11} {password}" in kept
            user = authenticate(session, username, password)
            assert user is not None and user.role == role, username
            if role == "member":
                linked.append(by_id[user.member_id])
    assert {m.level for m in linked} == {"district", "town", "village"}
    assert len({m.town_code for m in linked}) == 3 and all(m.on_duty for m in linked)

    # a second run refuses and changes nothing
    before = demo_counts()
    again = invoke("demo", "--cases", "5")
    assert again.exit_code == 0, again.output
    assert "not loaded" in again.stdout
    assert "Demo loaded" not in again.stdout
    assert demo_counts() == before


def test_demo_needs_the_reference_regions(env):
    with get_engine().begin() as conn:
        conn.exec_driver_sql("DELETE FROM region")
    result = invoke("demo", "--cases", "1")
    assert result.exit_code != 0
    assert "db upgrade" in result.stderr
    assert demo_counts()["Point"] == 0


# --------------------------------------------------------------------------- users


def test_users_create_stores_a_working_password_and_role(env):
    result = invoke("users", "create", "--username", "op1", "--password", PASSWORD, "--role", "operator")
    assert result.exit_code == 0, result.output
    assert "op1" in result.stdout

    with Session(get_engine()) as session:
        user = authenticate(session, "op1", PASSWORD)
        assert user is not None
        assert user.role == "operator"
        assert authenticate(session, "op1", PASSWORD + "x") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "short", "--password", "abc", "--role", "operator"], "8"),
        (["--username", "boss", "--password", PASSWORD, "--role", "superuser"], "superuser"),
        (["--username", "m1", "--password", PASSWORD, "--role", "member"], "--member-id"),
    ],
    ids=["short-password", "unknown-role", "member-without-member-id"],
)
def test_users_create_rejects_bad_input(env, args, message):
    result = invoke("users", "create", *args)
    assert result.exit_code != 0
    assert message in result.stderr, result.output
    assert "Traceback" not in result.output
    with Session(get_engine()) as session:
        assert count(session, User) == 0


def test_users_create_rejects_a_duplicate_username(env):
    first = invoke("users", "create", "--username", "op1", "--password", PASSWORD, "--role", "operator")
    assert first.exit_code == 0, first.output
    second = invoke("users", "create", "--username", "op1", "--password", "another-password", "--role", "admin")
    assert second.exit_code != 0
    assert "taken" in second.stderr, second.output
    with Session(get_engine()) as session:
        assert count(session, User) == 1
        user = authenticate(session, "op1", PASSWORD)
        assert user is not None and user.role == "operator"


# --------------------------------------------------------------------------- apikeys


def test_apikeys_create_prints_a_working_key_last(env):
    result = invoke("apikeys", "create", "--name", "12345平台")
    assert result.exit_code == 0, result.output
    key = result.stdout.split()[-1]

    with Session(get_engine()) as session:
        principal = principal_from_api_key(session, key)
        assert principal is not None
        assert principal.name == "12345平台"
        assert "hotline" in principal.scopes
        assert principal_from_api_key(session, key + "x") is None


# --------------------------------------------------------------------------- serve and worker


@pytest.mark.skipif(SERVICES, reason="the embedded default only")
def test_serve_refuses_several_workers_on_the_embedded_default(env, monkeypatch):
    import uvicorn

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append((a, kw)))  # never block the test
    result = invoke("serve", "--workers", "2")
    assert result.exit_code != 0
    assert "SHANGLIANG_REDIS_URL" in result.stderr, result.output
    assert started == []


@pytest.mark.skipif(SERVICES, reason="the embedded default only")
def test_worker_refuses_the_embedded_default(env, monkeypatch):
    import rq

    import dispatch.maintenance

    worked = []
    monkeypatch.setattr(rq.Worker, "work", lambda self, **kw: worked.append(kw))  # never block the test
    monkeypatch.setattr(dispatch.maintenance.Maintenance, "start", lambda self: worked.append("maintenance"))
    result = invoke("worker", "--burst")
    assert result.exit_code != 0
    assert "SHANGLIANG_REDIS_URL" in result.stderr, result.output
    assert worked == []


def test_commands_work_in_a_fresh_process(env):
    """Each command imports only what it needs: run the real console script, not the in-process app."""
    exe = Path(sys.executable).with_name("shangliang")
    out = subprocess.run(
        [str(exe), "users", "create", "--username", "fresh", "--password", "tidal-basin-lamp", "--role", "operator"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Created operator account fresh" in out.stdout
    out = subprocess.run(
        [str(exe), "apikeys", "create", "--name", "gateway"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1].startswith("sl_")


def test_the_migrations_match_the_models(env):
    """A model change without a migration fails here (what `alembic check` does)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import dispatch.models  # noqa: F401
    from dispatch.db import get_engine

    with get_engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_worker_imports_what_its_maintenance_loop_uses_before_it_forks(env):
    """The worker's maintenance thread must never be importing when a work horse forks (the child would
    inherit the held import lock and hang): once ``workers.jobs`` is imported, a full maintenance pass imports
    nothing new."""
    code = (
        "import sys\n"
        "from dispatch.maintenance import Maintenance\n"
        "import workers.jobs\n"
        "before = set(sys.modules)\n"
        "Maintenance().tick(sweep=True, reconcile=True)\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith(('dispatch', 'workers'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.skipif(
    not SERVICES,
    reason="`shangliang worker` runs on PostgreSQL + Redis only (the embedded default runs its worker inside `serve`)",
)
@pytest.mark.parametrize(("queues", "forks"), [("analysis", False), ("default", True)])
def test_an_analysis_worker_runs_its_jobs_in_its_own_process(env, queues, forks):
    """A worker of the analysis queue alone keeps its token cache from one detection to the next by
    running jobs itself; a worker of the short jobs forks a work horse for each, as RQ does."""
    from dispatch.broker import get_broker

    broker = get_broker()
    queue = broker.analysis_queue if queues == "analysis" else broker.queue
    jobs = [queue.enqueue("os.getpid") for _ in range(2)]
    worker = subprocess.Popen([str(BIN / "shangliang"), "worker", "--burst", "--queues", queues])
    assert worker.wait(timeout=120) == 0
    pids = {job.latest_result().return_value for job in jobs}
    if forks:
        assert len(pids) == 2 and worker.pid not in pids
    else:
        assert pids == {worker.pid}
