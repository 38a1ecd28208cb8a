"""Deadline policy, per-case deadlines, the escalation ladder and extension requests (延期).

``clock`` is the "now" of everything here; tests replace it (``monkeypatch.setattr(service, "clock", ...)``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, delete, select

from dispatch.cases import states, taxonomy
from dispatch.cases.models import REQUEST_KINDS, Case
from dispatch.config import get_settings
from dispatch.db import after_commit, after_rollback, insert_rows, utcnow
from dispatch.deadlines.calendar import Calendar, read_csv
from dispatch.deadlines.models import STEPS, CalendarDay, CaseDeadline, DeadlinePolicy, ExtensionRequest, LadderStep
from dispatch.errors import AppError, Conflict, Forbidden, not_found
from dispatch.localtime import SHANGHAI


def clock() -> datetime:
    return utcnow()


def now() -> datetime:
    return clock()


# ---- the shipped policy ------------------------------------------------------------------------------

UTILITIES = tuple(f"城乡建设/城市建设和市政管理/{leaf}" for leaf in ("自来水供应", "电力供应", "燃气供应", "冬季采暖"))


def _rule(prefix: str, urgency: str, kind: str, sign: tuple[int, str], finish: tuple[int, str], note: str) -> dict:
    return {
        "category_prefix": prefix,
        "urgency": urgency,
        "kind": kind,
        "sign_amount": sign[0],
        "sign_unit": sign[1],
        "finish_amount": finish[0],
        "finish_unit": finish[1],
        "note": note,
    }


H, WD = "hours", "working_days"
DEFAULT_POLICIES: dict[str, list[dict[str, Any]]] = {
    # Beijing 12345 接诉即办: emergencies 2 h, water/power/gas/heating 24 h, general 7 days, complex 15 days.
    "beijing": [
        _rule("", "urgent", "", (1, H), (2, H), "北京：紧急诉求 2 小时"),
        _rule("", "normal", "", (1, WD), (7 * 24, H), "北京：一般诉求 7 日"),
        _rule("", "normal", "complex", (1, WD), (15 * 24, H), "北京：复杂诉求 15 日"),
        *(_rule(p, "normal", "", (2, H), (24, H), "北京：水电气热 24 小时") for p in UTILITIES),
    ],
    # Guangdong 12345: enquiries 2 working days, requests for help and suggestions 10, complaints 15.
    "guangdong": [
        _rule("", "urgent", "", (1, H), (2, H), "紧急诉求 2 小时（同北京）"),
        _rule("", "normal", "", (1, WD), (10, WD), "广东：未标注类型按求助 10 个工作日"),
        _rule("", "normal", "咨询", (1, WD), (2, WD), "广东：咨询 2 个工作日"),
        _rule("", "normal", "求助", (1, WD), (10, WD), "广东：求助 10 个工作日"),
        _rule("", "normal", "建议", (1, WD), (10, WD), "广东：建议 10 个工作日"),
        _rule("", "normal", "投诉", (1, WD), (15, WD), "广东：投诉 15 个工作日"),
    ],
}


def default_policy_rows() -> list[dict[str, Any]]:
    """Every shipped rule with its profile, as the migration seeds them."""
    return [{"profile": profile, **rule} for profile, rules in DEFAULT_POLICIES.items() for rule in rules]


# ---- policy and calendar ------------------------------------------------------------------------------


def policy_rules(session: Session, profile: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The rules of ``profile`` (the active one by default) and where they come from.

    An empty table (a fresh database that was not migrated with seeds, or one an admin emptied) means the
    shipped defaults.
    """
    profile = profile or get_settings().deadline_profile
    rows = session.exec(select(DeadlinePolicy).where(DeadlinePolicy.profile == profile)).all()
    if rows:
        keys = ("category_prefix", "urgency", "kind", "sign_amount", "sign_unit", "finish_amount", "finish_unit")
        return [{k: getattr(r, k) for k in (*keys, "note")} | {"id": r.id} for r in rows], "table"
    any_row = session.exec(select(DeadlinePolicy.id).limit(1)).first()
    if any_row is None:
        return [dict(r) for r in DEFAULT_POLICIES.get(profile, [])], "shipped defaults"
    return [], "table"


# ---- the per-process cache of the reference data (policy and calendar) -------------------------------------
#
# Every intake needs the policy rules and the calendar; both change a few times a year. They are cached per
# process and database (engine) for ``CACHE_TTL_S`` seconds: an edit through this process (``replace_policies``,
# ``replace_year``) clears the cache when it commits, so the next case uses it at once; other processes (API
# workers, RQ workers) pick it up within the TTL. See docs/deadlines.md.

CACHE_TTL_S = 10.0
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> {"at", "gen", "calendar", "rules"}
_cache_lock = threading.Lock()
_generation = 0  # bumped by every invalidation: a load that raced with an edit is not stored


def invalidate_cache() -> None:
    """Forget the cached policy and calendar of every database (call after editing them)."""
    global _generation
    with _cache_lock:
        _generation += 1
        _cache.clear()


def _invalidate_after_commit(session: Session) -> None:
    invalidate_cache()  # now: this transaction's own later reads load afresh
    after_commit(session, invalidate_cache)  # and again once committed: no other thread keeps the old data


def _cached(session: Session, key: Any, load: Any) -> Any:
    """``load()`` once per TTL, process and database, under ``key``."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    now_m = time.monotonic()
    with _cache_lock:
        entry = _cache.get(engine)
        if entry is None or now_m - entry["at"] > CACHE_TTL_S:
            entry = _cache[engine] = {"at": now_m, "values": {}}
        if key in entry["values"]:
            return entry["values"][key]
        gen = _generation
    value = load()
    with _cache_lock:
        if gen == _generation and _cache.get(engine) is entry:
            entry["values"][key] = value
    return value


def cached_policy_rules(session: Session, profile: str) -> tuple[list[dict[str, Any]], str]:
    """``policy_rules`` through the cache (the rules are shared: do not modify them)."""
    return _cached(session, ("rules", profile), lambda: policy_rules(session, profile))


def pick_rule(rules: list[dict[str, Any]], category: str | None, urgency: str, kind: str = "") -> dict[str, Any]:
    """Among the rules of this urgency whose prefix covers the category, the longest prefix wins; then an exact
    request kind beats the any-kind ("") rule."""
    fits = [
        r
        for r in rules
        if r["urgency"] == urgency and taxonomy.covers(r["category_prefix"], category) and r["kind"] in ("", kind)
    ]
    if not fits:
        raise AppError(
            "no_deadline_policy",
            "没有适用的办理时限规则",
            "No deadline rule applies",
            status=500,
            category=category,
            urgency=urgency,
        )
    return max(fits, key=lambda r: (len(r["category_prefix"]), r["kind"] == kind and kind != ""))


def load_calendar(session: Session) -> Calendar:
    """The calendar table, or the shipped CSV when the table is empty (cached, see ``CACHE_TTL_S``)."""
    return _cached(session, "calendar", lambda: read_calendar(session))


def read_calendar(session: Session) -> Calendar:
    rows = session.exec(select(CalendarDay)).all()
    if not rows:
        return Calendar.from_rows(read_csv())
    return Calendar.from_rows({"day": r.day, "kind": r.kind} for r in rows)


def add(cal: Calendar, start: datetime, amount: int, unit: str) -> datetime:
    if unit == "hours":
        return start + timedelta(hours=amount)  # calendar hours: nights, weekends and holidays count
    return cal.add_working_days(start, amount)


def compute(
    session: Session, category: str | None, urgency: str, start: datetime, kind: str = "", profile: str | None = None
) -> dict[str, Any]:
    """The sign (签收) and finish (办结) deadlines for a case received at ``start``, with the rule used."""
    profile = profile or get_settings().deadline_profile
    rules, source = cached_policy_rules(session, profile)
    rule = pick_rule(rules, category, urgency, kind)
    cal = load_calendar(session)
    return {
        "sign_by": add(cal, start, rule["sign_amount"], rule["sign_unit"]),
        "due_at": add(cal, start, rule["finish_amount"], rule["finish_unit"]),
        "rule": {**{k: v for k, v in rule.items() if k != "id"}, "profile": profile, "source": source},
    }


def replace_policies(session: Session, profile: str, rules: list[dict[str, Any]], actor: str) -> None:
    for r in rules:
        if r["kind"] and r["kind"] not in REQUEST_KINDS:
            raise AppError(
                "unknown_request_kind",
                f"未知的诉求类型：{r['kind']}",
                f"Unknown request type: {r['kind']}",
                status=422,
                kind=r["kind"],
                allowed=list(REQUEST_KINDS),
            )
    keys = [(r["category_prefix"], r["urgency"], r["kind"]) for r in rules]
    if len(set(keys)) != len(keys):
        raise AppError("duplicate_rule", "规则重复", "Two rules have the same prefix, urgency and kind", status=422)
    for urgency in ("normal", "urgent"):
        if ("", urgency, "") not in keys:
            raise AppError(
                "missing_default_rule",
                f"缺少默认规则（分类前缀为空，紧急程度 {urgency}）",
                f"A default rule (empty prefix, urgency {urgency}, any kind) is required",
                status=422,
                urgency=urgency,
            )
    if session.exec(select(DeadlinePolicy.id).limit(1)).first() is None:
        # the table was empty (shipped defaults in force): keep the other profiles as they were
        for row in default_policy_rows():
            if row["profile"] != profile:
                session.add(DeadlinePolicy(**row, updated_by="defaults"))
    session.exec(delete(DeadlinePolicy).where(col(DeadlinePolicy.profile) == profile))
    stamp = utcnow()
    for r in rules:
        session.add(DeadlinePolicy(profile=profile, **r, updated_at=stamp, updated_by=actor))
    session.flush()
    _invalidate_after_commit(session)


def replace_year(session: Session, year: int, days: list[dict[str, Any]]) -> None:
    for d in days:
        if d["day"].year != year:
            raise AppError("wrong_year", f"{d['day']} 不在 {year} 年", f"{d['day']} is not in {year}", status=422)
    if session.exec(select(CalendarDay.day).limit(1)).first() is None:  # materialise the shipped years first
        for row in read_csv():
            if row["day"].year != year:
                session.add(CalendarDay(**row))
    lo, hi = datetime(year, 1, 1).date(), datetime(year, 12, 31).date()
    session.exec(delete(CalendarDay).where(col(CalendarDay.day) >= lo, col(CalendarDay.day) <= hi))
    for d in days:
        session.add(CalendarDay(day=d["day"], kind=d["kind"], name=d.get("name", "")))
    session.flush()
    _invalidate_after_commit(session)


# ---- a case's deadlines and ladder -------------------------------------------------------------------


def ladder_times(cal: Calendar, start: datetime, due: datetime) -> dict[str, datetime]:
    s = get_settings()
    reminder = start + (due - start) * (s.ladder_reminder_pct / 100)
    red = cal.add_working_days(due, s.ladder_red_after_working_days)
    supervision = cal.add_working_days(red, s.ladder_supervision_after_working_days)
    return {"reminder": min(reminder, due), "yellow": due, "red": red, "supervision": supervision}


def plan_cases(session: Session, planned: list[tuple[Case, dict[str, Any]]]) -> None:
    """At intake, for cases just inserted with their ``due_at``: store each one's sign deadline and the rule
    used (``planned`` is ``compute``'s answer) and plan its escalation ladder, one statement per table."""
    cal = load_calendar(session)
    deadlines, steps, jobs = [], [], []
    for case, out in planned:
        start = case.received_at
        deadlines.append(
            {
                "case_id": case.id,
                "start_at": start,
                "sign_by": out["sign_by"],
                "finish_by": out["due_at"],
                "rule": out["rule"],
            }
        )
        _remember_sign_by(session, case.id, out["sign_by"])
        times = ladder_times(cal, start, case.due_at)
        steps += [{"case_id": case.id, "step": step, "due_at": times[step]} for step in STEPS]
        jobs.append((case.id, STEPS[0], times[STEPS[0]]))  # one job per case at a time: the first step's
    insert_rows(session, CaseDeadline, deadlines)
    insert_rows(session, LadderStep, steps)
    from dispatch.deadlines.flows import schedule_steps  # late: flows imports this module

    schedule_steps(session, jobs)


def replan_case(session: Session, case: Case) -> None:
    """After the request kind changed: the same rule as at intake, from the same start; the ladder's pending
    steps move. An approved extension later than the new deadline still holds."""
    row = session.get(CaseDeadline, case.id)
    start = row.start_at if row else case.received_at
    out = compute(session, case.category, case.urgency, start, case.request_kind or "")
    due = out["due_at"]
    approved = session.exec(
        select(ExtensionRequest.new_due_at).where(
            ExtensionRequest.case_id == case.id, ExtensionRequest.state == "approved"
        )
    ).all()
    if approved and max(approved) > due:
        due = max(approved)
    case.due_at = due
    session.add(case)
    if row is None:
        row = CaseDeadline(case_id=case.id, start_at=start, sign_by=out["sign_by"], finish_by=out["due_at"], rule={})
    row.sign_by, row.finish_by, row.rule = out["sign_by"], out["due_at"], out["rule"]
    session.add(row)
    _remember_sign_by(session, case.id, out["sign_by"])
    _plan_steps(session, case, start)


def _plan_steps(session: Session, case: Case, start: datetime) -> None:
    """Insert or move the pending steps (fired and skipped ones stay as they are), schedule the next one's job."""
    times = ladder_times(load_calendar(session), start, case.due_at)
    existing = {s.step: s for s in session.exec(select(LadderStep).where(LadderStep.case_id == case.id)).all()}
    planned: list[tuple[str, datetime]] = []
    for step in STEPS:
        row = existing.get(step)
        if row is None:
            row = LadderStep(case_id=case.id, step=step, due_at=times[step])
        elif row.state == "pending":
            row.due_at = times[step]
        else:
            continue
        session.add(row)
        planned.append((step, times[step]))
    session.flush()
    _schedule_after_commit(session, case.id, planned)


def _schedule_after_commit(session: Session, case_id: int, pending: list[tuple[str, datetime]]) -> None:
    """One job per case at a time: the first pending step's. Its job schedules the following step once it ran
    (``flows.run_ladder_step``); ``flows.sweep_ladder`` fires a step whose job was lost, and schedules the next."""
    if not pending:
        return
    step, at = pending[0]  # steps are due in ladder order
    from dispatch.deadlines.flows import schedule_steps  # late: flows imports this module

    schedule_steps(session, [(case_id, step, at)])


def next_pending(session: Session, case_id: int) -> tuple[str, datetime] | None:
    """The case's first pending step and its time, or None."""
    rows = session.exec(
        select(LadderStep.step, LadderStep.due_at).where(LadderStep.case_id == case_id, LadderStep.state == "pending")
    ).all()
    if not rows:
        return None
    step, at = min(rows, key=lambda r: STEPS.index(r[0]))
    return step, at


def _remember_sign_by(session: Session, case_id: int, at: datetime) -> None:
    """The sign deadline just written, for this session's event snapshots (no re-read of the row)."""
    if "sign_by" not in session.info:
        session.info["sign_by"] = {}
    session.info["sign_by"][case_id] = at
    after_rollback(session, lambda: session.info.pop("sign_by", None))


def case_deadline(session: Session, case_id: int) -> CaseDeadline | None:
    return session.get(CaseDeadline, case_id)


def sign_by(case: Case) -> datetime | None:
    """The case's 签收 deadline (for ``cases.service.deadlines``), read through the case's own session."""
    session = object_session(case)
    if session is None or case.id is None:
        return None
    known = session.info.get("sign_by", {})
    if case.id in known:
        return known[case.id]
    row = session.get(CaseDeadline, case.id)
    return row.sign_by if row else None


def sign_by_of(session: Session, case_ids: Sequence[int]) -> dict[int, datetime | None]:
    """The 签收 deadlines of many cases in one read (a list of cases); a case without a row is absent."""
    if not case_ids:
        return {}
    stmt = select(CaseDeadline.case_id, CaseDeadline.sign_by).where(col(CaseDeadline.case_id).in_(list(case_ids)))
    return {case_id: at for case_id, at in session.exec(stmt).all()}


def steps(session: Session, case_id: int) -> list[LadderStep]:
    rows = session.exec(select(LadderStep).where(LadderStep.case_id == case_id)).all()
    return sorted(rows, key=lambda s: STEPS.index(s.step))


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _fire(session: Session, case: Case, step: LadderStep, at: datetime) -> None:
    s = get_settings()
    due = _local(case.due_at) if case.due_at else "-"
    data = {"step": step.step, "due_at": case.due_at.isoformat() if case.due_at else None, "at": at.isoformat()}
    if step.step == "reminder":
        action, note = "reminded", f"催办：请于 {due} 前办结 / reminder: due {due}"
    elif step.step == "yellow":
        action, note, data["level"] = "overdue", f"[yellow] 黄牌：已到办结时限 {due} / deadline reached", "yellow"
    elif step.step == "red":
        n = s.ladder_red_after_working_days
        action, note, data["level"] = "overdue", f"[red] 红牌：超期 {n} 个工作日 / {n} working days overdue", "red"
    else:
        action, note = "supervised", f"督办：超期未办结，请督查 / supervision order: overdue since {due}"
    states.record(session, case, actor="system:ladder", action=action, note=note, data=data)


def fire_due(session: Session, case_id: int, at: datetime | None = None) -> list[str]:
    """Fire the pending steps of a case that are due at ``at``, in ladder order; the caller commits.

    Each step moves pending → fired (or skipped, when the case is no longer open) by one conditional UPDATE
    under the case's row lock: two workers, or a worker and the sweeper, cannot both fire it.
    """
    at = at or now()
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        return []
    session.refresh(case)
    due = session.exec(
        select(LadderStep).where(
            LadderStep.case_id == case_id, LadderStep.state == "pending", col(LadderStep.due_at) <= at
        )
    ).all()
    fired: list[str] = []
    is_open = case.status in states.OPEN_STATUSES
    for step in sorted(due, key=lambda s: STEPS.index(s.step)):
        result = session.execute(
            update(LadderStep)
            .where(col(LadderStep.id) == step.id, col(LadderStep.state) == "pending")
            .values(state="fired" if is_open else "skipped", fired_at=at if is_open else None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue  # another process got there first
        session.expire(step)
        if is_open:
            _fire(session, case, step, at)
            fired.append(step.step)
    return fired


def pending_due_cases(session: Session, at: datetime, limit: int) -> list[int]:
    stmt = (
        select(LadderStep.case_id)
        .where(LadderStep.state == "pending", col(LadderStep.due_at) <= at)
        .distinct()
        .order_by(LadderStep.case_id)
        .limit(limit)
    )
    return list(session.exec(stmt).all())


# ---- extensions (延期) ----------------------------------------------------------------------------------


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=SHANGHAI) if at.tzinfo is None else at  # a local time without offset: Beijing time


def request_extension(
    session: Session, case_id: int, member_id: int, reason: str, new_due_at: datetime
) -> ExtensionRequest:
    from dispatch.cases import service as cases

    case = cases.get(session, case_id, lock=True)
    if case.assignee_id != member_id:
        raise Forbidden("not_your_case", "该案件未派给您", "This case is not assigned to you")
    if case.status not in states.HOLDS_SLOT:
        raise Conflict(
            "not_extendable", "案件当前状态不能申请延期", "The case cannot be extended now", status_from=case.status
        )
    new_due_at = _aware(new_due_at).astimezone(UTC)
    if case.due_at is not None and new_due_at <= case.due_at:
        raise AppError(
            "extension_not_later",
            "新的办结时限须晚于现时限",
            "The new due date must be later than the current one",
            status=422,
            due_at=case.due_at.isoformat(),
        )
    pending = session.exec(
        select(ExtensionRequest.id).where(ExtensionRequest.case_id == case_id, ExtensionRequest.state == "pending")
    ).first()
    if pending is not None:
        raise Conflict(
            "extension_pending", "已有待审批的延期申请", "An extension request is already pending", id=pending
        )
    ext = ExtensionRequest(
        case_id=case_id, member_id=member_id, reason=reason, old_due_at=case.due_at, new_due_at=new_due_at
    )
    session.add(ext)
    session.flush()
    states.record(
        session,
        case,
        actor=f"member:{member_id}",
        action="extension_requested",
        note=reason,
        data={"request_id": ext.id, "new_due_at": new_due_at.isoformat()},
    )
    return ext


def decide_extension(session: Session, ext_id: int, approve: bool, actor: str, note: str | None) -> ExtensionRequest:
    from dispatch.cases import service as cases

    ext = session.get(ExtensionRequest, ext_id)
    if ext is None:
        raise not_found("延期申请", "Extension request", code="extension_not_found", id=ext_id)
    case = cases.get(session, ext.case_id, lock=True)
    session.refresh(ext)
    if ext.state != "pending":
        raise Conflict("extension_decided", "该延期申请已处理", "This request was already decided", state=ext.state)
    ext.state = "approved" if approve else "rejected"
    ext.decided_by, ext.decided_at, ext.decision_note = actor, utcnow(), note
    session.add(ext)
    data = {"request_id": ext.id, "old_due_at": case.due_at.isoformat() if case.due_at else None}
    if approve:
        case.due_at = ext.new_due_at
        data["new_due_at"] = ext.new_due_at.isoformat()
        row = session.get(CaseDeadline, case.id)
        _plan_steps(session, case, row.start_at if row else case.received_at)
    states.record(
        session,
        case,
        actor=actor,
        action="extension_approved" if approve else "extension_rejected",
        note=note,
        data=data,
        notify=(ext.member_id,),
    )
    return ext


def extensions(session: Session, case_id: int) -> list[ExtensionRequest]:
    stmt = select(ExtensionRequest).where(ExtensionRequest.case_id == case_id).order_by(ExtensionRequest.id)
    return list(session.exec(stmt).all())
