"""Replies to residents: written with the resolution, sent once through the log or SMTP backend, retried with a
bounded backoff, and caught up by the sweeper when the job was lost (Redis down, worker killed)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from helpers import api_key, auth, capture_jobs, create_member, user_token

from dispatch.config import get_settings
from dispatch.notifications import flows
from workers import jobs

PHONE = "13812345678"
EMAIL = "li.ming@example.cn"
REPLY = "已更换破损井盖并加装防坠网"
BASE = "https://shangliang.example.cn"


def wait_for(fn, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def phone_case(api, op: str) -> dict:
    body = {"content": "小区门口井盖破损，夜里有人踩空", "caller_name": "李明", "caller_phone": PHONE}
    res = api.post("/api/cases", json=body, headers=auth(op))
    assert res.status_code == 201, res.text
    return res.json()


def mail_case(api) -> dict:
    msg = EmailMessage()
    msg["From"] = f"李明 <{EMAIL}>"
    msg["To"] = "xinxiang@yandu.gov.cn"
    msg["Subject"] = "井盖破损"
    msg["Message-ID"] = f"<reply-{time.monotonic_ns()}@example.cn>"
    msg.set_content("小区门口井盖破损，夜里有人踩空，请尽快处理。")
    res = api.post(
        "/api/intake/mail",
        content=msg.as_bytes(),
        headers={"X-API-Key": api_key(), "Content-Type": "message/rfc822"},
    )
    assert res.status_code == 201, res.text
    return res.json()


def handler(api, op: str) -> tuple[int, str]:
    member = create_member(api, op, name="承办委员", level="district")
    return member["id"], user_token(api, "member", f"m{member['id']}", member_id=member["id"])


def assign(api, op: str, case_id: int, member_id: int) -> None:
    res = api.post(f"/api/cases/{case_id}/assign", json={"member_id": member_id}, headers=auth(op))
    assert res.status_code == 200, res.text


def resolve(api, member: str, case_id: int) -> dict:
    res = api.post(f"/api/cases/{case_id}/resolve", json={"note": REPLY}, headers=auth(member))
    assert res.status_code == 200, res.text
    return res.json()


def notifications(api, token: str, case_id: int) -> list[dict]:
    res = api.get("/api/notifications", params={"case_id": case_id}, headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def sent_lines(caplog, notification_id: int) -> list[str]:
    marker = f'"notification_id": {notification_id},'
    return [
        r.getMessage() for r in caplog.records if "notification.sent" in r.getMessage() and marker in r.getMessage()
    ]


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.INFO, logger="dispatch.notifications")
    return caplog


# ---- the log backend -------------------------------------------------------------------------------------


@pytest.mark.settings(public_base_url=BASE)
def test_resolution_reply_is_written_with_the_resolution_and_sent_once_through_the_log_backend(api, logged):
    op = user_token(api, "operator")
    sup = user_token(api, "supervisor")
    member_id, member = handler(api, op)
    case = phone_case(api, op)
    assign(api, op, case["id"], member_id)
    assert notifications(api, op, case["id"]) == []  # nothing before the resolution

    resolve(api, member, case["id"])
    rows = wait_for(lambda: [n for n in notifications(api, op, case["id"]) if n["status"] == "sent"], what="sent")
    assert len(rows) == 1
    sms = rows[0]
    assert (sms["channel"], sms["to"], sms["template"], sms["attempts"]) == ("sms", PHONE, "case_resolved", 1)
    assert sms["provider_id"] == f"log-{sms['id']}" and sms["sent_at"] and sms["last_error"] is None
    # the reply: tracking number, the result, the link to the tracking page, the invitation to rate
    assert case["tracking_no"] in sms["body"] and REPLY in sms["body"]
    assert f"{BASE}/t/{case['tracking_no']}" in sms["body"] and "满意" in sms["body"]
    # one structured line, the recipient masked and no body in the log
    lines = sent_lines(logged, sms["id"])
    assert len(lines) == 1
    assert "138****5678" in lines[0] and PHONE not in lines[0] and REPLY not in lines[0]
    # supervisors see the recipient masked; members and anonymous callers see nothing
    assert notifications(api, sup, case["id"])[0]["to"] == "138****5678"
    assert api.get("/api/notifications", headers=auth(member)).status_code == 403
    assert api.get("/api/notifications").status_code == 401
    # the resident's tracking page carries the reply too
    tracked = api.get(f"/api/track/{case['tracking_no']}", params={"secret": case["secret"]}).json()
    assert tracked["status"] == "resolved" and tracked["resolution"] == REPLY

    # a case with an e-mail address gets the e-mail reply, also once
    mailed = mail_case(api)
    assign(api, op, mailed["id"], member_id)
    resolve(api, member, mailed["id"])
    rows = wait_for(lambda: [n for n in notifications(api, op, mailed["id"]) if n["status"] == "sent"], what="mail")
    assert [(n["channel"], n["to"]) for n in rows] == [("email", EMAIL)]
    assert mailed["tracking_no"] in rows[0]["subject"] and f"{BASE}/t/{mailed['tracking_no']}" in rows[0]["body"]
    assert len(sent_lines(logged, rows[0]["id"])) == 1


@pytest.mark.settings(notify_sweep_grace_s=0, sweep_interval_s=3600)
def test_a_job_and_the_sweeper_racing_send_the_reply_once(api, logged, monkeypatch):
    scheduled = capture_jobs(monkeypatch, "workers.jobs.send_notification")
    op = user_token(api, "operator")
    member_id, member = handler(api, op)
    case = phone_case(api, op)
    assign(api, op, case["id"], member_id)
    resolve(api, member, case["id"])
    (row,) = notifications(api, op, case["id"])
    assert row["status"] == "pending" and row["attempts"] == 0  # committed with the resolution, not yet sent
    assert [(job, args) for _, job, args, _ in scheduled] == [("workers.jobs.send_notification", (row["id"],))]

    # the job, delivered twice, and two sweepers run at once: one of them sends
    with ThreadPoolExecutor(4) as pool:
        runs = [
            pool.submit(jobs.send_notification, row["id"]),
            pool.submit(jobs.send_notification, row["id"]),
            pool.submit(flows.sweep_notifications),
            pool.submit(flows.sweep_notifications),
        ]
        results = [r.result() for r in runs]
    assert results[:2].count("sent") + results[2] + results[3] == 1
    assert jobs.send_notification(row["id"]) == "skipped" and flows.sweep_notifications() == 0
    (row,) = notifications(api, op, case["id"])
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert len(sent_lines(logged, row["id"])) == 1


# ---- Redis down at the resolution -------------------------------------------------------------------------


@pytest.mark.settings(notify_sweep_grace_s=0.5, sweep_interval_s=0.5, relay_interval_s=0.2)
def test_a_resolution_while_redis_is_down_still_replies_once_redis_is_back(outage, api, logged):
    cut, restore = outage
    op = user_token(api, "operator")
    member_id, member = handler(api, op)
    case = phone_case(api, op)
    assign(api, op, case["id"], member_id)
    cut()
    try:
        resolve(api, member, case["id"])  # the member is not held up by the outage
        # the reply was committed with the resolution although its job could not be enqueued; the sweeper (0.5 s
        # grace here, no Redis needed) may send it before this read, so its status is not asserted
        (row,) = notifications(api, op, case["id"])
    finally:
        restore()
    row = wait_for(lambda: [n for n in notifications(api, op, case["id"]) if n["status"] == "sent"], what="sweep")[0]
    assert row["attempts"] == 1 and len(sent_lines(logged, row["id"])) == 1


# ---- SMTP --------------------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"


@pytest.fixture
def smtp(env, monkeypatch):
    """A real SMTP server on a free port; the app's settings point at it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SHANGLIANG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SHANGLIANG_SMTP_PORT", str(port))
    get_settings.cache_clear()
    yield inbox
    controller.stop()


@pytest.mark.settings(notify_backend="smtp", public_base_url=BASE, smtp_from="reply@yandu.gov.cn")
def test_the_smtp_backend_delivers_the_reply_with_the_tracking_number_and_link(smtp, api):
    op = user_token(api, "operator")
    member_id, member = handler(api, op)
    case = mail_case(api)
    assign(api, op, case["id"], member_id)
    resolve(api, member, case["id"])
    wait_for(lambda: smtp.messages, what="the mail")
    row = wait_for(lambda: [n for n in notifications(api, op, case["id"]) if n["status"] == "sent"], what="sent")[0]
    ((rcpts, mail),) = smtp.messages
    assert rcpts == [EMAIL]
    assert case["tracking_no"] in mail["Subject"] and "已办结" in mail["Subject"]
    assert "reply@yandu.gov.cn" in mail["From"] and mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_body(("plain",)).get_content()
    assert f"{BASE}/t/{case['tracking_no']}" in text and REPLY in text and "满意" in text
    assert row["provider_id"] == mail["Message-ID"] and row["attempts"] == 1


@pytest.mark.settings(
    notify_backend="smtp", notify_max_attempts=3, notify_backoff_s=0.2, notify_sweep_grace_s=3600, smtp_host="127.0.0.1"
)
def test_smtp_down_is_retried_then_marked_failed_and_never_fails_the_resolution(env, monkeypatch, api):
    monkeypatch.setenv("SHANGLIANG_SMTP_PORT", str(free_port()))  # nothing listens there
    get_settings.cache_clear()
    op = user_token(api, "operator")
    member_id, member = handler(api, op)
    case = mail_case(api)
    assign(api, op, case["id"], member_id)
    resolved = resolve(api, member, case["id"])  # 200 for the member: the mail is the worker's problem
    assert resolved["status"] == "resolved"
    attempts_seen = set()

    def failed():
        (row,) = notifications(api, op, case["id"])
        attempts_seen.add(row["attempts"])
        return row if row["status"] == "failed" else None

    row = wait_for(failed, timeout=30, what="failed")
    assert row["attempts"] == 3 and row["sent_at"] is None and row["provider_id"] is None
    assert "Connection" in row["last_error"] or "refused" in row["last_error"].lower()
    assert max(attempts_seen) == 3
    # a failed row is left alone: no more attempts by job or sweeper
    assert jobs.send_notification(row["id"]) == "skipped" and flows.sweep_notifications() == 0
    assert notifications(api, op, case["id"])[0]["attempts"] == 3
    assert api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()["status"] == "resolved"
