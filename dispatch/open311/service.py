"""Open311 rules: reading parameters, mapping cases to service requests, the queries, keys and updates.

No HTTP here: failures are ``Open311Error`` (status + bilingual description), which the views render in the
specification's error format.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from dispatch.auth.models import ApiKey
from dispatch.auth.service import Principal, principal_from_api_key
from dispatch.cases import states
from dispatch.cases.models import Case, CaseEvent
from dispatch.cases.service import PUBLIC_ACTIONS, NewCase, mask_phone
from dispatch.cases.states import CLOSED_STATUSES, RESOLVED_STATUSES
from dispatch.config import get_settings
from dispatch.db import utcnow
from dispatch.departments.models import Department
from dispatch.intake.service import submit as intake_submit
from dispatch.localtime import SHANGHAI
from dispatch.open311 import catalog
from dispatch.open311.models import UPDATES_ANY_SCOPE
from dispatch.open311.render import w3 as _w3
from dispatch.regions import reference

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-22T00:00:00+08:00"  # bump when the services or their definitions change
MAX_SPAN = timedelta(days=90)
MAX_PAGE_SIZE = 1000  # the specification's default limit: "first 1000 requests"
MAX_DESCRIPTION = 4000
META_ACTION = "open311"  # the trail entry holding what the Open311 POST carried beyond the case's fields
COMMENT_ACTION = "comment"

STATUS_NOTES = {
    "new": "已受理 / Received",
    "offered": "正在派给就近委员 / Being offered to the nearest member",
    "escalated": "由指挥中心调度 / Being dispatched by the command centre",
    "assigned": "委员已签收 / Accepted by a member",
    "in_progress": "办理中 / In progress",
    "resolved": "已办结 / Resolved",
    "closed": "已结案 / Closed",
    "reopened": "已重新办理 / Reopened",
    "forwarded": "已转交职能部门办理 / Forwarded to the responsible department",
    "merged": "与其他诉求合并办理 / Merged with another request",
    "cancelled": "已撤销 / Cancelled",
}
# FixMyStreet's extended statuses (lower case out, upper case in)
FMS_STATUS = {
    "new": "open",
    "offered": "open",
    "escalated": "open",
    "assigned": "action_scheduled",
    "in_progress": "in_progress",
    "resolved": "fixed",
    "closed": "closed",
    "reopened": "reopen",
    "forwarded": "internal_referral",
    "merged": "duplicate",
    "cancelled": "closed",
}
FMS_STATUSES = (
    "open",
    "closed",
    "fixed",
    "in_progress",
    "action_scheduled",
    "investigating",
    "duplicate",
    "not_councils_responsibility",
    "no_further_action",
    "internal_referral",
    "reopen",
    "for_triage",
)
UPDATE_ACTIONS = (*(a for a in PUBLIC_ACTIONS if a != "created"), COMMENT_ACTION)  # the case's public trail


class Open311Error(Exception):
    """A failure in the specification's terms: 400, 403 or 404 (413/429/503 from the platform)."""

    def __init__(self, status: int, zh: str, en: str, headers: dict | None = None) -> None:
        super().__init__(en)
        self.status = status
        self.description = f"{zh} / {en}"
        self.headers = headers


def bad(zh: str, en: str) -> Open311Error:
    return Open311Error(400, zh, en)


# ---- parameters ---------------------------------------------------------------------------------------


class Params:
    """Arguments from the query string and the body together (the body first); an empty one is absent."""

    _ATTR = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")

    def __init__(self, *sources: list[tuple[str, Any]]) -> None:
        self.items = [(k, v.strip()) for src in sources for k, v in src if isinstance(v, str) and v.strip()]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.items if k == name), None)

    def attributes(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in self.items:
            m = self._ATTR.match(key)
            if m:
                out.setdefault(m.group(1), []).append(value)
        return out


def jurisdiction_id() -> str:
    return get_settings().mail_domain


def check_jurisdiction(params: Params) -> None:
    given = params.get("jurisdiction_id")
    if given is not None and given.lower() != jurisdiction_id().lower():
        raise Open311Error(
            404,
            f"未找到 jurisdiction_id：{given}（本接口只服务 {jurisdiction_id()}）",
            f"jurisdiction_id not found: {given} (this endpoint serves {jurisdiction_id()} only)",
        )


def require_key(session: Session, params: Params) -> Principal:
    raw = params.get("api_key")
    if raw is None:
        raise Open311Error(403, "缺少 api_key", "api_key missing")
    key = principal_from_api_key(session, raw)
    if key is None or "open311" not in key.scopes:
        raise Open311Error(403, "api_key 无效或已作废", "Invalid or revoked api_key")
    return key


_W3 = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def parse_datetime(value: str, name: str) -> datetime:
    """A W3C datetime; a date alone is midnight and a time without offset is Beijing time."""
    if re.search(r" \d{2}:?\d{2}$", value):  # '+' of the offset decoded to a space by an unencoded URL
        value = value[:-6] + "+" + value[-5:] if value[-3] == ":" else value[:-5] + "+" + value[-4:]
    if not _W3.match(value):
        raise bad(
            f"{name} 须为 W3C 日期时间，如 2026-01-01T00:00:00+08:00",
            f"{name} must be a W3C datetime such as 2026-01-01T00:00:00Z",
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad(f"{name} 不是有效的日期时间", f"{name} is not a valid datetime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def date_range(params: Params) -> tuple[datetime, datetime]:
    """start_date/end_date: 90 days at most; one alone spans 90 days from it; neither: the last 90 days."""
    start = params.get("start_date")
    end = params.get("end_date")
    s = parse_datetime(start, "start_date") if start else None
    e = parse_datetime(end, "end_date") if end else None
    if s and e:
        if e < s:
            raise bad("end_date 早于 start_date", "end_date is before start_date")
        if e - s > MAX_SPAN:
            raise bad("start_date 与 end_date 相距不能超过 90 天", "start_date and end_date may span 90 days at most")
        return s, e
    if s:
        return s, s + MAX_SPAN
    if e:
        return e - MAX_SPAN, e
    now = utcnow()
    return now - MAX_SPAN, now


def paging(params: Params) -> tuple[int, int]:
    """page (from 1) and page_size (1–1000, default 1000): the widely used extension."""
    out = []
    for name, default in (("page", 1), ("page_size", MAX_PAGE_SIZE)):
        raw = params.get(name)
        if raw is None:
            out.append(default)
            continue
        if not raw.isdigit() or int(raw) < 1:
            raise bad(f"{name} 须为正整数", f"{name} must be a positive integer")
        out.append(int(raw))
    return out[0], min(out[1], MAX_PAGE_SIZE)


def _ids(raw: str, name: str) -> list[int]:
    ids = [p.strip() for p in raw.split(",") if p.strip()]
    if not ids or not all(p.isdigit() and len(p) < 12 for p in ids):
        raise bad(f"{name} 须为以逗号分隔的编号", f"{name} must be a comma-separated list of ids")
    return [int(p) for p in ids]


def _codes(raw: str) -> list[catalog.Service]:
    out = []
    for code in (p.strip() for p in raw.split(",")):
        if not code:
            continue
        found = catalog.catalog().by_code.get(code)
        if found is None:
            raise bad(f"未知的 service_code：{code}", f"Unknown service_code: {code}")
        out.append(found)
    return out


# ---- discovery ----------------------------------------------------------------------------------------


def discovery() -> dict:
    settings = get_settings()
    return {
        "changeset": CHANGESET,
        "contact": f"盐都区政协“有事好商量”指挥中心，热线 {settings.hotline_number} / "
        f"Yandu CPPCC command centre, hotline {settings.hotline_number}",
        "key_service": "API 密钥由系统管理员在“系统管理 › API 密钥”签发 / "
        "API keys are issued by the administrators (Administration › API keys)",
        "endpoints": [
            {
                "specification": SPEC,
                "url": settings.public_base_url.rstrip("/") + "/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def find_service(code: str | None) -> catalog.Service:
    if code is None:
        raise bad("缺少 service_code", "service_code missing")
    found = catalog.catalog().by_code.get(code)
    if found is None:
        raise Open311Error(404, f"未找到 service_code：{code}", f"service_code not found: {code}")
    return found


# ---- POST requests -----------------------------------------------------------------------------------


@dataclass
class Submission:
    new: NewCase
    meta: dict[str, Any]
    account_id: str | None


def _number(params: Params, name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad(f"{name} 须为数值", f"{name} must be a number") from None
    if not math.isfinite(value):
        raise bad(f"{name} 须为有限数值", f"{name} must be a finite number")
    return value


def _bounded(params: Params, name: str, limit: int) -> str | None:
    value = params.get(name)
    if value is not None and len(value) > limit:
        raise bad(f"{name} 不能超过 {limit} 个字符", f"{name} may be at most {limit} characters")
    return value


def _media_url(params: Params) -> str | None:
    url = _bounded(params, "media_url", 2048)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise bad("media_url 须为 http(s) 网址", "media_url must be an http(s) URL")
    return url


def _region_label(village: str | None, town: str | None) -> str | None:
    names = [row["name"] for c in (village, town) if c and (row := reference.by_code(c))]
    return ", ".join([*names, "盐都区"]) if names else None


def _attribute_values(service: catalog.Service, given: dict[str, list[str]]) -> dict[str, str]:
    """Check the attributes against the service definition; unknown codes are ignored."""
    out: dict[str, str] = {}
    for attr in service.attributes:
        values = given.get(attr["code"], [])
        if not values:
            if attr["required"]:
                raise bad(
                    f"缺少必填属性 attribute[{attr['code']}]（{attr['description']}）",
                    f"Required attribute missing: attribute[{attr['code']}]",
                )
            continue
        if len(values) > 1:
            raise bad(f"attribute[{attr['code']}] 只能选一项", f"attribute[{attr['code']}] takes a single value")
        keys = {v["key"] for v in attr["values"]}
        if values[0] not in keys:
            raise bad(
                f"attribute[{attr['code']}] 的取值无效：{values[0]}",
                f"Invalid value of attribute[{attr['code']}]: {values[0]}",
            )
        out[attr["code"]] = values[0]
    return out


def submission(params: Params, actor: str) -> Submission:
    """The case an Open311 POST asks for; every failure is a 400 (404 for an unknown service_code)."""
    service = find_service(params.get("service_code"))
    lat, lon = _number(params, "lat"), _number(params, "long")
    if (lat is None) != (lon is None):
        raise bad("lat 与 long 须同时提供", "lat and long must be given together")
    address = _bounded(params, "address_string", 256)
    address_id = params.get("address_id")
    town = village = None
    if address_id is not None:
        region = reference.by_code(address_id)
        if region is None or region["level"] == "district":
            raise bad(
                f"未知的 address_id：{address_id}（须为镇街或村社区代码）",
                f"Unknown address_id: {address_id} (a town or village code)",
            )
        if lat is None:  # lat/long, when given too, are the finer location
            lat, lon = region["lat"], region["lon"]
            town, village = (
                (region["parent_code"], region["code"])
                if region["level"] == "village"
                else (
                    region["code"],
                    None,
                )
            )
            address = address or _region_label(village, town)
    if lat is None and address is None:
        raise bad(
            "须提供位置：lat 与 long、address_string 或 address_id",
            "A location is required: lat and long, address_string or address_id",
        )
    attributes = _attribute_values(service, params.attributes())
    path = service.path
    if "subcategory" in attributes:
        path = next(leaf.path for leaf in service.leaves if leaf.key == attributes["subcategory"])
    description = params.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise bad("description 不能超过 4000 个字符", "description may be at most 4,000 characters")
    first, last = _bounded(params, "first_name", 32), _bounded(params, "last_name", 32)
    name: str | None
    if last and first and (first + last).isascii():
        name = f"{first} {last}"
    else:  # Chinese order: family name first, no space
        name = "".join(p for p in (last, first) if p) or None
    email = _bounded(params, "email", 128)
    if email is not None and "@" not in email:
        raise bad("email 格式无效", "email is not an e-mail address")
    media_url = _media_url(params)
    account_id = _bounded(params, "account_id", 128)
    new = NewCase(
        channel="open311",
        content=description or path.replace("/", " › "),
        actor=actor,
        category=path,
        urgency=attributes.get("urgency", "normal"),
        reporter_name=name[:64] if name else None,
        reporter_phone=_bounded(params, "phone", 32),
        reporter_email=email,
        address=address,
        lat=lat,
        lon=lon,
        town_code=town,
        village_code=village,
    )
    meta = {
        "service_code": service.code,
        "attributes": attributes,
        "media_url": media_url,
        "account_id": account_id,
        "device_id": _bounded(params, "device_id", 128),
        "address_id": address_id,
    }
    return Submission(new, {k: v for k, v in meta.items() if v}, account_id)


def submit(sub: Submission) -> Case:
    """The one road of every channel (``intake.service.submit``), with the Open311 extras in the trail."""

    def extras(session: Session, case: Case) -> bool:
        assert case.id is not None  # written by cases.insert before on_created runs
        note = f"媒体链接 / Media: {sub.meta['media_url']}" if sub.meta.get("media_url") else None
        session.add(CaseEvent(case_id=case.id, actor=sub.new.actor, action=META_ACTION, note=note, data=sub.meta))
        return True  # dispatched like any case

    case, _, _ = intake_submit(sub.new, on_created=extras)
    return case


def service_notice(case: Case) -> str:
    return (
        f"已受理，查询编号 {case.tracking_no}；将就近派给委员办理 / "
        f"Received as {case.tracking_no}; it goes to the nearest member on duty"
    )


# ---- GET requests ------------------------------------------------------------------------------------

_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_NO = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@([\w-]+\.[\w.-]+)")


def scrub(text: str | None) -> str | None:
    """Personal data out of published text: mobile numbers masked, ID numbers and e-mail users hidden."""
    if not text:
        return text
    text = _ID_NO.sub(lambda m: m.group(0)[:3] + "*" * 15, text)
    text = _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    return _EMAIL.sub(lambda m: "***@" + m.group(1), text)[:MAX_DESCRIPTION]


def _status_time(case: Case) -> datetime:
    if case.status == "resolved" and case.resolved_at:
        return case.resolved_at
    if case.status == "closed" and case.closed_at:
        return case.closed_at
    return case.updated_at


def request_view(case: Case, meta: dict, departments: dict[int, str]) -> dict:
    """A case as a service request. Only cases that came in through Open311 show their text and exact spot:
    the other channels' residents did not publish theirs (their location is given to about 100 m)."""
    service = catalog.service_for(case.category)
    own = case.channel == "open311"
    notes = STATUS_NOTES.get(case.status, case.status)
    if own and case.status in RESOLVED_STATUSES and case.resolution:
        notes = f"{notes}：{scrub(case.resolution)}"
    lat, lon = case.lat, case.lon
    if not own and lat is not None and lon is not None:
        lat, lon = round(lat, 3), round(lon, 3)
    region = _region_label(case.village_code, case.town_code)
    return {
        "service_request_id": str(case.id),
        "status": "closed" if case.status in CLOSED_STATUSES else "open",
        "status_notes": notes,
        "service_name": service.name,
        "service_code": service.code,
        "description": scrub(case.content) if own else None,
        "agency_responsible": departments.get(case.department_id) if case.department_id else "盐都区政协 / Yandu CPPCC",
        "service_notice": None,
        "requested_datetime": _w3(case.received_at),
        "updated_datetime": _w3(_status_time(case)),
        "expected_datetime": _w3(case.due_at),
        "address": (case.address or region) if own else region,
        "address_id": case.village_code or case.town_code,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": meta.get("media_url"),
    }


def _public(stmt):
    return stmt.where(col(Case.confidential).is_(False))


def _views(session: Session, cases: list[Case]) -> list[dict]:
    ids = [c.id for c in cases]
    metas: dict[int, dict] = {}
    if ids:
        for ev in session.exec(
            select(CaseEvent).where(col(CaseEvent.case_id).in_(ids), CaseEvent.action == META_ACTION)
        ):
            metas.setdefault(ev.case_id, ev.data or {})
    dept_ids = {c.department_id for c in cases if c.department_id}
    departments: dict[int, str] = {}
    if dept_ids:
        departments = {
            cast(int, d.id): d.name for d in session.exec(select(Department).where(col(Department.id).in_(dept_ids)))
        }
    return [request_view(c, metas.get(cast(int, c.id), {}), departments) for c in cases]  # loaded: ids set


def _service_filter(services: list[catalog.Service]):
    conds: list[ColumnElement[bool]] = []
    for s in services:
        if s.code == catalog.OTHER_CODE:  # categories are checked against the taxonomy: 其他 or none
            conds.append(or_(col(Case.category).is_(None), col(Case.category) == s.path))
        elif s.leaves:
            conds.append(or_(col(Case.category) == s.path, col(Case.category).startswith(s.path + "/")))
        else:
            conds.append(col(Case.category) == s.path)
    return or_(*conds)


def search(session: Session, params: Params) -> list[dict]:
    """GET requests: service_request_id overrides everything else; else dates, service_code and status."""
    raw_ids = params.get("service_request_id")
    if raw_ids is not None:
        ids = _ids(raw_ids, "service_request_id")
        found = session.exec(_public(select(Case).where(col(Case.id).in_(ids)))).all()
        order = {i: n for n, i in enumerate(ids)}
        return _views(session, sorted(found, key=lambda c: order[cast(int, c.id)]))
    start, end = date_range(params)
    page, size = paging(params)
    stmt = _public(select(Case)).where(Case.received_at >= start, Case.received_at <= end)
    codes = params.get("service_code")
    if codes is not None:
        services = _codes(codes)
        if services:
            stmt = stmt.where(_service_filter(services))
    status = params.get("status")
    if status is not None:
        wanted = {s.strip().lower() for s in status.split(",") if s.strip()}
        if not wanted or not wanted <= {"open", "closed"}:
            raise bad("status 只能是 open 或 closed", "status must be open or closed")
        if wanted == {"open"}:
            stmt = stmt.where(col(Case.status).not_in(CLOSED_STATUSES))
        elif wanted == {"closed"}:
            stmt = stmt.where(col(Case.status).in_(CLOSED_STATUSES))
    stmt = stmt.order_by(col(Case.received_at).desc(), col(Case.id).desc()).offset((page - 1) * size).limit(size)
    return _views(session, list(session.exec(stmt).all()))


def one(session: Session, request_id: str) -> list[dict]:
    case = session.get(Case, int(request_id)) if request_id.isdigit() and len(request_id) < 12 else None
    if case is None or case.confidential:
        raise Open311Error(404, f"未找到服务请求：{request_id}", f"Service request not found: {request_id}")
    return _views(session, [case])


def token(session: Session, value: str) -> list[dict]:
    """A token is the tracking number every channel hands out (YD20261122-0001)."""
    case = session.exec(select(Case).where(Case.tracking_no == value)).first()
    if case is None or case.confidential:
        raise Open311Error(404, f"未找到 token：{value}", f"token not found: {value}")
    return [{"service_request_id": str(case.id), "token": case.tracking_no}]


# ---- servicerequestupdates (FixMyStreet) ----------------------------------------------------------


def _update_description(ev: CaseEvent, case: Case) -> str:
    if ev.action == COMMENT_ACTION:
        return scrub(ev.note) or ""
    text = STATUS_NOTES.get(ev.to_status or "", "")
    if ev.action == "progress":
        text = "办理进展已更新 / Progress reported"
    elif ev.action == "rated":
        text = "群众已评价 / Rated by the resident"
    if ev.action == "resolved" and case.channel == "open311" and ev.note:
        text = f"{text}：{scrub(ev.note)}"
    return text


def updates(session: Session, params: Params) -> list[dict]:
    """The public steps of cases (and comments posted here) in the date range, oldest first."""
    start, end = date_range(params)
    page, size = paging(params)
    rows = session.exec(
        _public(select(CaseEvent, Case).join(Case, col(Case.id) == CaseEvent.case_id))
        .where(CaseEvent.at >= start, CaseEvent.at <= end, col(CaseEvent.action).in_(UPDATE_ACTIONS))
        .order_by(col(CaseEvent.id))
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    if not rows:
        return []
    # the status after each event: its own, or that of the last status change before it
    case_ids = {c.id for _, c in rows}
    changes: dict[int, list[tuple[int, str]]] = {}
    for eid, cid, to in session.exec(
        select(CaseEvent.id, CaseEvent.case_id, CaseEvent.to_status)
        .where(col(CaseEvent.case_id).in_(case_ids), col(CaseEvent.to_status).is_not(None))
        .order_by(col(CaseEvent.id))
    ):
        assert eid is not None and to is not None  # a primary key; the query asks for a to_status
        changes.setdefault(cid, []).append((eid, to))
    out = []
    for ev, case in rows:
        status = ev.to_status
        if status is None:
            history = changes.get(case.id, [])
            i = bisect.bisect_right([e for e, _ in history], ev.id)
            status = history[i - 1][1] if i else "new"
        out.append(
            {
                "update_id": str(ev.id),
                "service_request_id": str(case.id),
                "status": FMS_STATUS.get(status, "open"),
                "updated_datetime": _w3(ev.at),
                "description": _update_description(ev, case),
                "media_url": (ev.data or {}).get("media_url") or "",
                "external_status_code": status,
            }
        )
    return out


def submitted_by(session: Session, case_id: int) -> str | None:
    """Who delivered the case: the actor of its ``created`` trail entry (``apikey:N`` for a machine feed)."""
    stmt = select(CaseEvent.actor).where(CaseEvent.case_id == case_id, CaseEvent.action == "created")
    return session.exec(stmt.order_by(col(CaseEvent.id)).limit(1)).first()


def may_update(session: Session, case: Case, key: Principal) -> bool:
    """A key comments on the requests it submitted itself; on any other (public) one only with the scope
    ``UPDATES_ANY_SCOPE`` (an integrator trusted with every case, e.g. the district's own FixMyStreet)."""
    if case.confidential:
        return False
    assert case.id is not None  # a case from the database
    return UPDATES_ANY_SCOPE in key.scopes or submitted_by(session, case.id) == key.actor


def post_update(session: Session, params: Params, key: Principal) -> dict:
    """A comment from the Open311 client into the case's trail, as a note: it never moves the status (only
    the case's own handlers do); the status it asked for is kept with it. Idempotent by the client's
    update_id per key. A request the key may not update (``may_update``) answers exactly like an unknown one."""
    raw_id = params.get("service_request_id")
    if raw_id is None:
        raise bad("缺少 service_request_id", "service_request_id missing")
    case = (
        session.exec(select(Case).where(Case.id == int(raw_id)).with_for_update()).first()
        if raw_id.isdigit() and len(raw_id) < 12
        else None
    )
    if case is None or not may_update(session, case, key):
        raise Open311Error(404, f"未找到服务请求：{raw_id}", f"Service request not found: {raw_id}")
    description = params.get("description")
    if description is None:
        raise bad("缺少 description", "description missing")
    if len(description) > MAX_DESCRIPTION:
        raise bad("description 不能超过 4000 个字符", "description may be at most 4,000 characters")
    status = params.get("status")
    if status is not None and status.lower() not in FMS_STATUSES:
        raise bad(f"未知的 status：{status}", f"Unknown status: {status}")
    when = params.get("updated_datetime")
    client_update = _bounded(params, "update_id", 128)
    data = {
        "client_update_id": client_update,
        "requested_status": status.lower() if status else None,
        "updated_datetime": _w3(parse_datetime(when, "updated_datetime")) if when else None,
        "media_url": _media_url(params),
        "account_id": _bounded(params, "account_id", 128),
        "name": " ".join(p for p in (params.get("first_name"), params.get("last_name")) if p)[:64] or None,
        "email": _bounded(params, "email", 128),
    }
    data = {k: v for k, v in data.items() if v}
    if client_update:
        for ev in session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == COMMENT_ACTION)
        ):
            if ev.actor == key.actor and (ev.data or {}).get("client_update_id") == client_update:
                return {"update_id": str(ev.id)}
    ev = states.record(session, case, actor=key.actor, action=COMMENT_ACTION, note=description, data=data)
    session.flush()
    update_id = str(ev.id)
    session.commit()
    return {"update_id": update_id}


# ---- API keys ------------------------------------------------------------------------------------------


def list_keys(session: Session) -> list[ApiKey]:
    """Every key (machine callers of every door), newest first."""
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.id).desc())).all())


def key_view(key: ApiKey, raw: str | None = None) -> dict:
    out = {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": [s for s in key.scopes.split(",") if s],
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "active": key.revoked_at is None,
    }
    if raw is not None:
        out["api_key"] = raw
    return out
