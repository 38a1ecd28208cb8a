"""The board at county scale: 5,000 open cases. Every one is counted in its column (the counts equal the
database's), any one of them can be found by its number and opened, long columns grow as they are scrolled,
and a new case still arrives live on top of them."""

from __future__ import annotations

import random
import re
from datetime import timedelta

from helpers import PASSWORD, api_key, auth, create_member, user_token
from playwright.sync_api import expect
from sqlalchemy import text
from sqlmodel import Session, select

from dispatch.cases.models import Case
from dispatch.db import get_engine, insert_rows, utcnow
from dispatch.regions.models import Region
from e2e.browser import login

OPEN = 5000
# statuses nothing automatic acts on (the sweeper offers only "new" cases; offers here expire tomorrow), so the
# database holds still while the board is counted
STATUSES = ("escalated", "reopened", "offered", "assigned", "in_progress")
COLUMN_SQL = """
SELECT CASE
  WHEN due_at < :now OR (status = 'offered' AND offer_expires_at < :now) THEN 'overdue'
  WHEN status = 'offered' THEN 'offered'
  WHEN status IN ('assigned', 'in_progress') THEN 'active'
  ELSE 'new' END AS col, count(*)
FROM "case" WHERE status IN ('new', 'offered', 'escalated', 'assigned', 'in_progress', 'reopened')
GROUP BY 1
"""


def _seed(n: int) -> list[str]:
    """``n`` open cases written straight into the table (test data, as a year of work would have left them):
    spread over the villages, a fifth of them past their due time. Their tracking numbers."""
    now = utcnow()
    rng = random.Random(5000)
    with Session(get_engine()) as session:
        villages = session.exec(select(Region).where(Region.level == "village")).all()
        rows = []
        for i in range(n):
            v = villages[i % len(villages)]
            status = STATUSES[i % len(STATUSES)]
            created = now - timedelta(minutes=n - i)
            rows.append(
                {
                    "tracking_no": f"YD20261201-{i:05d}",
                    "secret_hash": "0" * 64,
                    "channel": "hotline",
                    "status": status,
                    "category": "城乡建设",
                    "content": f"第{i}号：路灯不亮",
                    "urgency": "normal",
                    "confidential": False,
                    "lat": v.lat + rng.uniform(-0.004, 0.004),
                    "lon": v.lon + rng.uniform(-0.004, 0.004),
                    "town_code": v.parent_code,
                    "village_code": v.code,
                    "received_at": created,
                    "created_at": created,
                    "updated_at": created,
                    "offer_expires_at": now + timedelta(days=1) if status == "offered" else None,
                    "due_at": created + (timedelta(hours=-1) if i % 5 == 0 else timedelta(days=7)),
                }
            )
        insert_rows(session, Case, rows)
        session.commit()
    return [r["tracking_no"] for r in rows]


def _database_counts() -> dict[str, int]:
    with Session(get_engine()) as session:
        return dict(session.execute(text(COLUMN_SQL), {"now": utcnow()}).all())


def test_five_thousand_open_cases_are_all_counted_findable_and_a_new_one_arrives_live(api, pages, shots):
    op = user_token(api, "operator", "op")
    numbers = _seed(OPEN)
    want = _database_counts()
    assert sum(want.values()) == OPEN and set(want) == {"new", "offered", "active", "overdue"}

    page = pages()
    login(page, "op", PASSWORD, "/board")
    expect(page.locator("#board[data-ready='1']")).to_be_attached(timeout=60_000)
    for col, n in want.items():
        expect(page.locator(f"#count-{col}")).to_have_text(str(n), timeout=30_000)
    # thousands counted, a page of cards drawn per column
    drawn = page.locator("#queue-active .case-card").count()
    assert 0 < drawn < want["active"]
    shots(page, "board-5000-open", full_page=False)

    # scrolling a long column to its end draws more of it
    page.locator("#queue-active .more-cards").scroll_into_view_if_needed()
    expect(page.locator("#queue-active .case-card")).not_to_have_count(drawn)
    assert page.locator("#queue-active .case-card").count() > drawn

    # a case picked at random, by its number, as a resident reads it out on the phone
    wanted = random.Random(7).choice(numbers[:-200])
    page.locator("#find-no").fill(wanted)
    page.locator("#find-no").press("Enter")
    expect(page.locator("#drawer-title")).to_have_text(wanted)
    card = page.locator(f".case-card[aria-label^='{wanted} ']")
    expect(card).to_be_visible()
    expect(card).to_have_class(re.compile(r"\bselected\b"))
    shots(page, "found-by-number", full_page=False)
    page.locator("#drawer-close").click()

    # the end of a number finds it too; nothing found says so
    page.locator("#find-no").fill("X-NOT-A-CASE")
    page.locator("#find-no").press("Enter")
    expect(page.locator("#find-msg")).to_contain_text("X-NOT-A-CASE")

    # a new case on top of 5,000: live, at the head of its column, and counted
    made = api.post("/api/cases", json={"content": "来电：井盖缺失", "lat": 33.38, "lon": 120.12}, headers=auth(op))
    assert made.status_code == 201, made.text
    new = made.json()
    expect(page.locator(f".cards [data-case-id='{new['id']}']")).to_be_visible(timeout=10_000)
    after = _database_counts()
    for col, n in after.items():
        expect(page.locator(f"#count-{col}")).to_have_text(str(n), timeout=10_000)
    assert sum(after.values()) == OPEN + 1


def test_member_loads_and_changes_follow_without_fetching_the_member_list_again(api, pages):
    """The board used to fetch all members again every few seconds while events came; a member's load now follows
    from the open cases it holds, and other changes to a member arrive as deltas over the socket."""
    op = user_token(api, "operator", "op")
    village = api.get("/api/regions?level=village", headers=auth(op)).json()[0]
    member = create_member(
        api,
        op,
        name="满负荷委员",
        town_code=village["parent_code"],
        capacity=1,
        lat=village["lat"] + 0.001,
        lon=village["lon"],
    )
    page = pages()
    login(page, "op", PASSWORD, "/board")
    expect(page.locator("#board[data-ready='1']")).to_be_attached()
    expect(page.locator("#map .member-icon.free")).to_have_count(1)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/api/members" in r.url else None)

    body = {"external_id": "load-1", "content": "路灯不亮", "lat": village["lat"], "lon": village["lon"]}
    res = api.post("/api/intake/hotline", json=body, headers={"X-API-Key": api_key("hotline")})
    assert res.status_code == 201, res.text
    expect(page.locator(f"#queue-offered [data-case-id='{res.json()['id']}']")).to_be_visible()
    # offered to the only member, whose one slot it takes: drawn full at once
    expect(page.locator("#map .member-icon.busy")).to_have_count(1)
    expect(page.locator("#map .member-icon.free")).to_have_count(0)
    assert api.get(f"/api/members/{member['id']}", headers=auth(op)).json()["load"] == 1
    page.wait_for_function(
        "() => document.querySelectorAll('#kpi-total').length && "
        "document.getElementById('kpi-total').textContent === '1'"
    )
    # a change to the member made elsewhere arrives as a delta over the socket, not by fetching the list
    res = api.patch(f"/api/members/{member['id']}", json={"on_duty": False}, headers=auth(op))
    assert res.status_code == 200, res.text
    expect(page.locator("#map .member-icon.off")).to_have_count(1)
    expect(page.locator("#map .member-icon.busy")).to_have_count(0)
    assert fetched == []
