"""KPIs on a hand-built data set: every figure below was worked out by hand (see the comments), on both backends.

Period 2025-03-03 … 2025-03-09 (Beijing). Sign deadline 24 h (the default). "Now" is the real clock, so every
due time in 2025 has passed and a due time in 2099 has not. Hours are counted from created_at.

 #  town ch       created (UTC)     accepted  due     resolved  status     rating      notes
 1  A   hotline  03-02 16:00 (=03-03 00:00 BJT, inside)  +1h  +48h  +10h  closed  satisfied
 2  A   hotline  03-03 02:00        +30h     +48h     +60h      resolved   —           signed late, resolved late
 3  A   mail     03-04 02:00        +2h      +48h     +20h      closed     basically
 4  A   mail     03-04 02:00        +5h      +48h     +40h      reopened   dissatisfied  reopened event; open+overdue
 5  A   hotline  03-05 02:00        —        +48h     —         new        —           open+overdue, unsigned late
 6  B   hotline  03-05 02:00        +3h      +48h     +8h       closed     satisfied   reopened once before
 7  B   mail     03-06 02:00        —        2099     —         forwarded  —           forwarded to a department
 8  B   hotline  03-06 02:00        —        +48h     —         merged     —           void (not a valid case)
 9  B   hotline  03-07 02:00        +4h      2099     —         assigned   —           open, not overdue
 X  A   hotline  03-02 15:59 (=03-02 23:59 BJT) and 03-09 16:00 (=03-10 00:00 BJT): outside the period

Totals: received 9, valid 8 (not #8).
 response   = accepted or forwarded among valid: 1,2,3,4,6,7,9 = 7 / 8
 signing    = accepted ≤ 24h: 1,3,4,6,9 = 5 / (accepted 1,2,3,4,6,9 + open unsigned past 24h: 5) = 7
 resolution = resolved|closed: 1,2,3,6 = 4 / 8
 on-time    = 1,3,6 = 3 / (resolved 4 + open overdue 4,5) = 6
 satisfaction = 1,3,6 = 3 / rated 1,3,4,6 = 4
 reopen     = 4,6 = 2 / (ever resolved 1,2,3,4,6) = 5
 overdue open = 2 (4, 5)
 handling   = 10, 60, 20, 8 h → mean 24.5; sorted 8,10,20,60, pos 0.9·3 = 2.7 → 20 + 0.7·40 = 48.0
Town A (1–5): response 4/5, signing 3/5, resolution 3/5, on-time 2/5, satisfaction 2/3, reopen 1/4, overdue 2,
 handling 10,60,20 → mean 30.0, p90 pos 1.8 → 20 + 0.8·40 = 52.0
Town B (6–9): received 4, response 3/3, signing 2/2, resolution 1/3, on-time 1/1, satisfaction 1/1, reopen 1/1,
 overdue 0, handling 8 → 8.0 / 8.0
Hotline (1,2,5,6,8,9): received 6, response 4/5, signing 3/5, resolution 3/5, on-time 2/4, satisfaction 2/2,
 reopen 1/3, overdue 1, handling 10,60,8 → mean 26.0, p90 pos 1.8 → 10 + 0.8·50 = 50.0
Mail (3,4,7): received 3, response 3/3, signing 2/2, resolution 1/3, on-time 1/2, satisfaction 1/2, reopen 1/2,
 overdue 1, handling 20 → 20.0 / 20.0
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import auth, user_token
from sqlmodel import select

from dispatch.cases.models import Case, CaseEvent
from dispatch.departments.models import Department
from dispatch.members.models import Member
from dispatch.regions.models import Region

H = timedelta(hours=1)
FAR = datetime(2099, 1, 1, tzinfo=UTC)
PERIOD = {"start": "2025-03-03", "end": "2025-03-09"}


def _t(s: str) -> datetime:
    return datetime.fromisoformat(f"2025-{s}:00+00:00")


def build(db) -> dict:
    towns = db.exec(select(Region).where(Region.level == "town").order_by(Region.code)).all()
    a, b = towns[0].code, towns[1].code
    ma, mb = Member(name="甲委员", level="town", town_code=a), Member(name="乙委员", level="town", town_code=b)
    dept = Department(name="住建局")
    db.add_all([ma, mb, dept])
    db.flush()
    # n, town, channel, created, accepted h, due (h or datetime), resolved h, status, rating, reopened
    spec = [
        (1, a, "hotline", "03-02T16:00", 1, 48, 10, "closed", "satisfied", False),
        (2, a, "hotline", "03-03T02:00", 30, 48, 60, "resolved", None, False),
        (3, a, "mail", "03-04T02:00", 2, 48, 20, "closed", "basically_satisfied", False),
        (4, a, "mail", "03-04T02:00", 5, 48, 40, "reopened", "dissatisfied", True),
        (5, a, "hotline", "03-05T02:00", None, 48, None, "new", None, False),
        (6, b, "hotline", "03-05T02:00", 3, 48, 8, "closed", "satisfied", True),
        (7, b, "mail", "03-06T02:00", None, FAR, None, "forwarded", None, False),
        (8, b, "hotline", "03-06T02:00", None, 48, None, "merged", None, False),
        (9, b, "hotline", "03-07T02:00", 4, FAR, None, "assigned", None, False),
        (10, a, "hotline", "03-02T15:59", 1, 48, 2, "closed", "satisfied", False),
        (11, a, "hotline", "03-09T16:00", 1, 48, 2, "closed", "satisfied", False),
    ]
    ids = {}
    for n, town, channel, created, acc, due, res, status, rating, reopened in spec:
        c0 = _t(created)
        member = (ma if town == a else mb).id if acc is not None else None
        case = Case(
            tracking_no=f"KPI-{n:02d}",
            secret_hash="x",
            channel=channel,
            status=status,
            content=f"测试 {n}",
            town_code=town,
            created_at=c0,
            received_at=c0,
            accepted_at=c0 + acc * H if acc is not None else None,
            assignee_id=member,
            department_id=dept.id if status == "forwarded" else None,
            due_at=due if isinstance(due, datetime) else c0 + due * H,
            resolved_at=c0 + res * H if res is not None else None,
            closed_at=c0 + (res + 1) * H if status == "closed" else None,
            rating=rating,
            rated_at=c0 + (res + 1) * H if rating else None,
        )
        db.add(case)
        db.flush()
        ids[n] = case.id
        if reopened:
            db.add(
                CaseEvent(
                    case_id=case.id,
                    at=c0 + res * H,
                    actor="resident",
                    action="rated",
                    from_status="resolved",
                    to_status="reopened",
                )
            )
    db.commit()
    return {"a": a, "b": b, "ids": ids, "ma": ma.id, "mb": mb.id, "dept": dept.id}


def _fig(row: dict) -> dict:
    """The figures as (num, den) pairs, for compact comparison."""
    out = {
        k: (row[k]["num"], row[k]["den"])
        for k in (
            "response_rate",
            "on_time_signing",
            "resolution_rate",
            "on_time_closure",
            "satisfaction",
            "reopen_rate",
        )
    }
    out["received"] = row["received"]
    out["overdue_open"] = row["overdue_open"]
    out["handling"] = (row["handling_time"]["mean_h"], row["handling_time"]["p90_h"])
    return out


def _expect(received, response, signing, resolution, on_time, sat, reopen, overdue, mean, p90) -> dict:
    return {
        "received": received,
        "response_rate": response,
        "on_time_signing": signing,
        "resolution_rate": resolution,
        "on_time_closure": on_time,
        "satisfaction": sat,
        "reopen_rate": reopen,
        "overdue_open": overdue,
        "handling": (mean, p90),
    }


TOTAL = _expect(9, (7, 8), (5, 7), (4, 8), (3, 6), (3, 4), (2, 5), 2, 24.5, 48.0)
TOWN_A = _expect(5, (4, 5), (3, 5), (3, 5), (2, 5), (2, 3), (1, 4), 2, 30.0, 52.0)
TOWN_B = _expect(4, (3, 3), (2, 2), (1, 3), (1, 1), (1, 1), (1, 1), 0, 8.0, 8.0)
HOTLINE = _expect(6, (4, 5), (3, 5), (3, 5), (2, 4), (2, 2), (1, 3), 1, 26.0, 50.0)
MAIL = _expect(3, (3, 3), (2, 2), (1, 3), (1, 2), (1, 2), (1, 2), 1, 20.0, 20.0)


@pytest.fixture
def data(db):
    return build(db)


def test_kpis_by_town_and_channel_match_the_hand_computed_figures(api, data):
    sup = user_token(api, "supervisor", "sup")
    res = api.get("/api/reports/kpis", params={**PERIOD, "by": "town"}, headers=auth(sup))
    assert res.status_code == 200, res.text
    body = res.json()
    assert _fig(body["total"]) == TOTAL
    rows = {r["key"]: _fig(r) for r in body["rows"]}
    assert rows == {data["a"]: TOWN_A, data["b"]: TOWN_B}
    assert body["total"]["response_rate"]["rate"] == 0.875
    assert body["total"]["on_time_signing"]["rate"] == 0.7143
    assert body["total"]["satisfaction"]["rate"] == 0.75
    assert body["trend"] == [{**body["trend"][0], "key": "2025-03-03", "label": "2025-03-03"}]
    assert _fig(body["trend"][0]) == TOTAL

    res = api.get("/api/reports/kpis", params={**PERIOD, "by": "channel", "trend": "day"}, headers=auth(sup))
    body = res.json()
    assert {r["key"]: _fig(r) for r in body["rows"]} == {"hotline": HOTLINE, "mail": MAIL}
    assert [(r["key"], r["received"]) for r in body["trend"]] == [
        ("2025-03-03", 2),
        ("2025-03-04", 2),
        ("2025-03-05", 2),
        ("2025-03-06", 2),
        ("2025-03-07", 1),
    ]

    # one town as a filter: the same figures as its slice
    res = api.get("/api/reports/kpis", params={**PERIOD, "by": "channel", "town_code": data["b"]}, headers=auth(sup))
    assert _fig(res.json()["total"]) == TOWN_B

    # by member: the assignees (town A's accepted cases are member A's)
    res = api.get("/api/reports/kpis", params={**PERIOD, "by": "member"}, headers=auth(sup))
    labels = {r["key"]: (r["label"], r["received"]) for r in res.json()["rows"]}
    assert labels == {None: (None, 3), data["ma"]: ("甲委员", 4), data["mb"]: ("乙委员", 2)}


def test_every_figure_links_to_its_cases(api, data):
    sup = user_token(api, "supervisor", "sup")
    ids = data["ids"]

    def behind(**params) -> tuple[list[int], list[int]]:
        res = api.get("/api/reports/cases", params={**PERIOD, **params}, headers=auth(sup))
        assert res.status_code == 200, res.text
        body = res.json()
        return [c["id"] for c in body["numerator"]], [c["id"] for c in body["denominator"]]

    assert behind(kpi="on_time_closure", by="town", slice=data["a"]) == (
        [ids[1], ids[3]],
        [ids[1], ids[2], ids[3], ids[4], ids[5]],
    )
    assert behind(kpi="reopen_rate") == ([ids[4], ids[6]], [ids[1], ids[2], ids[3], ids[4], ids[6]])
    assert behind(kpi="response_rate", by="channel", slice="mail") == ([ids[3], ids[4], ids[7]],) * 2
    assert behind(kpi="overdue_open")[0] == [ids[4], ids[5]]
    assert behind(kpi="received", by="member", slice="_null")[0] == [ids[5], ids[7], ids[8]]
    res = api.get("/api/reports/cases", params={**PERIOD, "kpi": "received"}, headers=auth(sup))
    assert [c["tracking_no"] for c in res.json()["numerator"]] == [f"KPI-{n:02d}" for n in range(1, 10)]
    assert api.get("/api/reports/cases", params={"kpi": "nope"}, headers=auth(sup)).status_code == 422


def test_the_page_figures_use_the_same_formulas(api, data):
    sup = user_token(api, "supervisor", "sup")
    body = api.get("/api/reports/towns", params=PERIOD, headers=auth(sup)).json()
    rows = {r["town_code"]: r for r in body["towns"]}
    a = rows[data["a"]]
    assert (a["intake"], a["resolved"], a["on_time"], a["rated"], a["satisfied"], a["overdue"]) == (5, 3, 2, 3, 2, 2)
    assert (a["resolution_rate"], a["on_time_rate"], a["satisfaction_rate"]) == (0.6, 0.4, 0.6667)
    t = body["total"]
    assert (t["intake"], t["resolved"], t["on_time"], t["rated"], t["satisfied"], t["overdue"]) == (9, 4, 3, 4, 3, 2)


def test_member_record(api, data):
    sup = user_token(api, "supervisor", "sup")
    res = api.get(f"/api/members/{data['ma']}/record", params={"year": 2025}, headers=auth(sup))
    assert res.status_code == 200, res.text
    r = res.json()
    # member A: cases 1,2,3,4 in the period plus the two outside it (still 2025): 10 (resolved +2h) and 11
    # assignments 6; resolved 1,2,3,10,11 = 5; on time 1,3,10,11 = 4 / (5 resolved + overdue 4) = 6
    # satisfaction: rated 1,3,4,10,11 → good 1,3,10,11 = 4 / 5
    assert (r["assignments"], r["resolved"]) == (6, 5)
    assert (r["on_time"]["num"], r["on_time"]["den"]) == (4, 6)
    assert (r["satisfaction"]["num"], r["satisfaction"]["den"]) == (4, 5)
    assert r["consultations_attended"] == 0
