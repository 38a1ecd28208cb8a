"""Think-tank rules (no HTTP): adding, changing, deactivating and listing experts.

Every path that writes an expert (the API, the spreadsheet import, the demo) goes through ``create`` / ``patch``,
so the same rules hold everywhere: at least one field (an expert without one can never be drawn), a known town,
known conflict regions, no second expert with the same phone number.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from dispatch.auth.service import Principal
from dispatch.cases.service import mask_phone, sees_phones
from dispatch.errors import AppError, Conflict, not_found
from dispatch.experts.models import Expert, ExpertIn, ExpertPatch
from dispatch.regions.models import Region


def _invalid(code: str, zh: str, en: str, **details: Any) -> AppError:
    return AppError(code, zh, en, status=422, **details)


def clean_fields(fields: list[str]) -> list[str]:
    """Fields stripped, blanks and repeats dropped, in the order given."""
    return list(dict.fromkeys(f.strip() for f in fields if f and f.strip()))


def _check_fields(fields: list[str]) -> None:
    if not fields:
        raise _invalid(
            "fields_required",
            "专家须至少填写一个擅长领域（抽取专家按领域进行）",
            "An expert needs at least one field (experts are drawn by field)",
            field="fields",
        )
    long = [f for f in fields if len(f) > 64]
    if long:
        raise _invalid(
            "value_too_long", "领域名称过长（最多 64 个字符）", "A field name is too long (at most 64)", field="fields"
        )


def _check_town(session: Session, code: str | None) -> None:
    if code is None:
        return
    region = session.get(Region, code)
    if region is None or region.level != "town":
        raise _invalid("unknown_region", f"未知的镇/街道代码：{code}", f"Unknown town code: {code}", field="town_code")


def _check_conflict_towns(session: Session, codes: list[str]) -> None:
    for code in codes:
        region = session.get(Region, code)
        if region is None or region.level not in ("town", "village"):
            raise _invalid(
                "unknown_region",
                f"回避地区代码未知：{code}",
                f"Unknown region code to stay away from: {code}",
                field="conflict_towns",
            )


def _check_phone_free(session: Session, phone: str | None, expert_id: int | None = None) -> None:
    if not phone:
        return
    stmt = select(Expert.id).where(Expert.phone == phone)
    if expert_id is not None:
        stmt = stmt.where(Expert.id != expert_id)
    other = session.exec(stmt).first()
    if other is not None:
        raise Conflict(
            "expert_exists",
            f"智库中已有使用该电话的专家（编号 {other}）",
            f"An expert with this phone number is already in the think tank (id {other})",
            field="phone",
            expert_id=other,
        )


def create(session: Session, body: ExpertIn) -> Expert:
    data = body.model_dump()
    data["fields"] = clean_fields(body.fields)
    data["conflict_towns"] = clean_fields(body.conflict_towns)
    data["phone"] = (body.phone or "").strip() or None
    _check_fields(data["fields"])
    _check_town(session, body.town_code)
    _check_conflict_towns(session, data["conflict_towns"])
    _check_phone_free(session, data["phone"])
    expert = Expert(**data)
    session.add(expert)
    session.flush()
    return expert


def get(session: Session, expert_id: int) -> Expert:
    expert = session.get(Expert, expert_id) if 0 < expert_id < 2**31 else None
    if expert is None:
        raise not_found("专家", "Expert", code="expert_not_found", id=expert_id)
    return expert


NULLABLE = ("phone", "organisation", "title", "town_code")


def patch(session: Session, expert: Expert, body: ExpertPatch) -> Expert:
    """Change the fields given; ``active: false`` deactivates (never drawn again, kept for past draws)."""
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k in NULLABLE}
    if "fields" in changes:
        changes["fields"] = clean_fields(changes["fields"])
        _check_fields(changes["fields"])
    if "conflict_towns" in changes:
        changes["conflict_towns"] = clean_fields(changes["conflict_towns"])
        _check_conflict_towns(session, changes["conflict_towns"])
    if "town_code" in changes:
        _check_town(session, changes["town_code"])
    if "phone" in changes:
        changes["phone"] = (changes["phone"] or "").strip() or None
        _check_phone_free(session, changes["phone"], expert.id)
    for key, value in changes.items():
        setattr(expert, key, value)
    session.add(expert)
    session.flush()
    return expert


def list_experts(
    session: Session,
    *,
    field: str | None = None,
    active: bool | None = None,
    kind: str | None = None,
    town_code: str | None = None,
    q: str | None = None,
) -> list[Expert]:
    """The think tank, by id; ``field`` exact, ``q`` a part of the name, organisation, title or a field."""
    stmt = select(Expert).order_by(col(Expert.id))
    if active is not None:
        stmt = stmt.where(Expert.active == active)
    if kind:
        stmt = stmt.where(Expert.kind == kind)
    if town_code:
        stmt = stmt.where(Expert.town_code == town_code)
    experts = list(session.exec(stmt).all())
    if field:
        experts = [e for e in experts if field in e.fields]
    if q and q.strip():
        needle = q.strip().lower()
        experts = [
            e for e in experts if any(needle in (s or "").lower() for s in (e.name, e.organisation, e.title, *e.fields))
        ]
    return experts


def fields_in_use(session: Session) -> list[str]:
    """Every field of an active expert, most experts first (what the draw form offers)."""
    counts: dict[str, int] = {}
    for fields in session.exec(select(Expert.fields).where(Expert.active == True)).all():  # noqa: E712
        for f in fields:
            counts[f] = counts.get(f, 0) + 1
    return sorted(counts, key=lambda f: (-counts[f], f))


def view(expert: Expert, p: Principal) -> dict[str, Any]:
    """An expert of the think tank; the phone in full only for the roles that call people (``PHONE_ROLES``)."""
    out = expert.model_dump()
    if not sees_phones(p.role):
        out["phone"] = mask_phone(expert.phone)
    return out
