"""The deadline policy: the rules (时限) per category, urgency and request kind, the working-day calendar, and
a case's sign (签收) and finish (办结) deadlines computed from them. Below cases: it reads only models.

See docs/deadlines.md; the escalation ladder built on these dates is ``deadlines.service``.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import object_session
from sqlmodel import Session, col, delete, select

from dispatch.cases import taxonomy
from dispatch.cases.models import REQUEST_KINDS, ExtensionRequest
from dispatch.config import get_settings
from dispatch.db import after_commit, utcnow
from dispatch.deadlines.calendar import Calendar, read_csv
from dispatch.deadlines.models import CalendarDay, CaseDeadline, DeadlinePolicy
from dispatch.errors import AppError

if TYPE_CHECKING:
    from dispatch.cases.models import Case


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
_cache: weakref.WeakKeyDictionary[Any, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)  # engine -> {"at", "gen", "calendar", "rules"}
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
    if session.exec(select(col(CalendarDay.day)).limit(1)).first() is None:  # materialise the shipped years first
        for row in read_csv():
            if row["day"].year != year:
                session.add(CalendarDay(**row))
    lo, hi = datetime(year, 1, 1).date(), datetime(year, 12, 31).date()
    session.exec(delete(CalendarDay).where(col(CalendarDay.day) >= lo, col(CalendarDay.day) <= hi))
    for d in days:
        session.add(CalendarDay(day=d["day"], kind=d["kind"], name=d.get("name", "")))
    session.flush()
    _invalidate_after_commit(session)


def replan(session: Session, case: Case) -> None:
    """After the category or request kind changed: the same rule as at intake, from the same start, sets the
    case's ``due_at`` and its sign deadline. An approved extension later than the new deadline still holds."""
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
    assert case.id is not None  # a case from the database
    if row is None:
        row = CaseDeadline(case_id=case.id, start_at=start, sign_by=out["sign_by"], finish_by=out["due_at"], rule={})
    row.sign_by, row.finish_by, row.rule = out["sign_by"], out["due_at"], out["rule"]
    session.add(row)


def case_deadline(session: Session, case_id: int) -> CaseDeadline | None:
    return session.get(CaseDeadline, case_id)


def sign_by(case: Case) -> datetime | None:
    """The case's 签收 deadline (for ``cases.service.deadlines``), read through the case's own session."""
    session = object_session(case)
    if session is None or case.id is None:
        return None
    row = session.get(CaseDeadline, case.id)
    return row.sign_by if row else None


def sign_by_of(session: Session, case_ids: Sequence[int]) -> dict[int, datetime | None]:
    """The 签收 deadlines of many cases in one read (a list of cases); a case without a row is absent."""
    if not case_ids:
        return {}
    stmt = select(CaseDeadline.case_id, CaseDeadline.sign_by).where(col(CaseDeadline.case_id).in_(list(case_ids)))
    return {case_id: at for case_id, at in session.exec(stmt).all()}
