"""No secret in any log line: a scripted session against real server processes (``shangliang serve`` in text and
JSON formats, and plain ``uvicorn dispatch.asgi:app`` with uvicorn's own logging config), then a grep of
everything they wrote for the resident's secret, the bearer tokens, the API key, the passwords and full phone
numbers. The lines are still there, redacted, with their path and status."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys

import httpx
import pytest
from conftest import SERVICES
from helpers import PASSWORD, auth, create_member
from procs import Proc, free_port, wait_for, wait_ready
from sqlmodel import Session
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from dispatch.auth.service import create_api_key, create_user
from dispatch.db import get_engine

PHONE, MEMBER_PHONE = "13812345678", "13900001111"
WRONG = "wrong-horse-battery-staple"
FORGED = "forged-token-0123456789abcdef"
OPEN311_PATH = "/open311/v2/requests.json?api_key=***&phone=138****5678&service_code=0101&"


def log_env(how: str) -> dict[str, str]:
    return {"SHANGLIANG_LOG_LEVEL": "INFO", "SHANGLIANG_LOG_FORMAT": "json" if how == "json" else "text"}


def start(how: str, name: str, port: int) -> Proc:
    env = log_env(how)
    if how == "uvicorn":  # uvicorn's own logging config: the app puts the filter on its handlers when it starts
        args = [sys.executable, "-m", "uvicorn", "dispatch.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--ws", "websockets-sansio", "--log-level", "info"]
    else:
        args = [sys.executable, "-m", "dispatch.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = Proc(args, name, env)
    wait_ready(proc, f"http://127.0.0.1:{port}", name)
    return proc


def written(procs: list[Proc]) -> str:
    return "\n".join(p.log_path.read_text(errors="replace") for p in procs)


@pytest.mark.parametrize("how", ["text", "json", "uvicorn"])
def test_no_secret_token_key_password_or_phone_number_reaches_the_logs(env, how):
    with Session(get_engine()) as session:
        create_user(session, "operator", PASSWORD, "operator")
        _, key = create_api_key(session, "12345 platform", "hotline,mail,open311")
        session.commit()
    port = free_port()
    procs = [start(how, f"logs-{how}", port)]
    if SERVICES and how != "uvicorn":
        # the resident's SMS goes out from a worker (the embedded server runs its own)
        procs.append(Proc([sys.executable, "-m", "dispatch.cli", "worker"], f"logs-worker-{how}", log_env(how)))
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as api:
            # sign-ins: the API, a wrong password, the login page
            op = api.post("/api/auth/token", json={"username": "operator", "password": PASSWORD}).json()["access_token"]
            assert api.post("/api/auth/token", json={"username": "operator", "password": WRONG}).status_code == 401
            with httpx.Client(base_url=base, timeout=30) as browser:
                form = {"username": "operator", "password": PASSWORD}
                assert browser.post("/login", data=form, follow_redirects=False).status_code == 303

            v = api.get("/api/regions?level=village", headers=auth(op)).json()[10]
            m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], phone=MEMBER_PHONE)
            with Session(get_engine()) as session:
                create_user(session, "m", PASSWORD, "member", m["id"])
                session.commit()
            member = api.post("/api/auth/token", json={"username": "m", "password": PASSWORD}).json()["access_token"]

            call = {"content": "楼上漏水", "caller_phone": PHONE, "lat": v["lat"], "lon": v["lon"]}
            case = api.post("/api/cases", json=call, headers=auth(op)).json()
            no, secret = case["tracking_no"], case["secret"]

            # the tracking page's polling (header), the contract's query form, a QR link with the secret
            assert api.get(f"/api/track/{no}", headers={"X-Tracking-Secret": secret}).status_code == 200
            assert api.get(f"/api/track/{no}", params={"secret": secret}).status_code == 200
            assert api.get(f"/t/{no}", params={"secret": secret}).status_code == 200

            # resolved: the resident gets an SMS (the log backend writes a line about it)
            assert api.post(f"/api/cases/{case['id']}/accept", headers=auth(member)).status_code == 200
            done = api.post(f"/api/cases/{case['id']}/resolve", json={"note": "已维修"}, headers=auth(member))
            assert done.status_code == 200, done.text

            # board sockets with the token in the URL: a good one and a forged one
            with connect(f"ws://127.0.0.1:{port}/ws/board?token={op}", open_timeout=10) as ws:
                ws.recv(timeout=10)
            with pytest.raises(InvalidStatus):
                connect(f"ws://127.0.0.1:{port}/ws/board?token={FORGED}", open_timeout=10)

            # Open311 with api_key in the form, then every argument in the query (the phone number too)
            fields = {"service_code": "0101", "attribute[subcategory]": "010103", "lat": str(v["lat"])}
            fields |= {"long": str(v["lon"]), "description": "路口井盖松动"}
            assert api.post("/open311/v2/requests.json", data=fields | {"api_key": key}).status_code == 200
            query = [("api_key", key), ("phone", PHONE)] + list(fields.items())
            assert api.post("/open311/v2/requests.json", params=query).status_code == 200

            # failed requests carrying credentials in the query (parameters the routes do not take: 422)
            bad = {"token": op, "api_key": key, "password": PASSWORD}
            assert api.get("/api/cases/999999", params=bad, headers=auth(op)).status_code == 422
            assert api.get("/api/cases", params={"access_token": member, "Key": key}).status_code == 422
            assert api.get("/api/cases/999999", params={"api_key": member}).status_code == 401

        if how != "uvicorn":  # (uvicorn's config has no handler for the app's INFO lines)
            wait_for(lambda: "notification.sent" in written(procs), "the SMS log line", timeout=30)
    finally:
        for proc in procs:
            proc.stop()

    logs = written(procs)
    for what, value in {
        "the resident's secret": secret,
        "the operator's token": op,
        "the operator's token signature": op.rpartition(".")[2],
        "the member's token": member,
        "the forged token": FORGED,
        "the API key": key,
        "the password": PASSWORD,
        "the wrong password": WRONG,
        "the caller's phone number": PHONE,
        "the member's phone number": MEMBER_PHONE,
    }.items():
        assert value not in logs, f"{what} is in the {how} logs"

    # the lines are there, redacted, with path and status
    if how == "json":
        entries = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
        access = {(e["method"], e["path"], e["status"]) for e in entries if e["logger"] == "uvicorn.access"}
        assert ("GET", f"/api/track/{no}?secret=***", 200) in access
        assert ("GET", f"/api/track/{no}", 200) in access
        assert ("GET", f"/t/{no}?secret=***", 200) in access
        assert ("GET", "/api/cases/999999?token=***&api_key=***&password=***", 422) in access
        assert any(m == "POST" and p.startswith(OPEN311_PATH) and s == 200 for m, p, s in access), access
        sockets = [e["msg"] for e in entries if "WebSocket /ws/board" in e["msg"]]
        sms = [e["msg"] for e in entries if "notification.sent" in e["msg"]]
    else:
        # uvicorn's own access format adds the reason phrase ("200 OK"): the same line without it
        logs = "\n".join(re.sub(r'(" \d{3}) [A-Za-z ]+$', r"\1", line) for line in logs.splitlines())
        assert f'"GET /api/track/{no}?secret=*** HTTP/1.1" 200' in logs
        assert f'"GET /api/track/{no} HTTP/1.1" 200' in logs
        assert f'"GET /t/{no}?secret=*** HTTP/1.1" 200' in logs
        assert '"GET /api/cases/999999?token=***&api_key=***&password=*** HTTP/1.1" 422' in logs
        assert '"GET /api/cases?access_token=***&Key=*** HTTP/1.1" 422' in logs
        assert any(f'"POST {OPEN311_PATH}' in line and line.endswith('HTTP/1.1" 200') for line in logs.splitlines())
        sockets = [line for line in logs.splitlines() if "WebSocket /ws/board" in line]
        sms = [line for line in logs.splitlines() if "notification.sent" in line]
    assert len(sockets) >= 2 and all('"WebSocket /ws/board?token=***"' in line for line in sockets), sockets
    assert any(line.endswith(" 403") for line in sockets), sockets  # the forged one, refused
    if how != "uvicorn":
        assert sms and all("138****5678" in line for line in sms), sms


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_tracebacks_extras_and_job_lines_are_redacted_by_our_logging_config(fmt):
    """What no HTTP session shows: an exception echoing a URL, extras, an RQ job's description, a secret split
    between the format and its arguments, a header dump — through the handler, filters and formatter of
    ``log_config`` (on a logger of its own, not the test run's root)."""
    from dispatch.observability.logs import log_config

    token, key, password = "eyJ1aWQiOiAxfQ.c2lnbmF0dXJlLWJ5dGVz", "sl_Zm9vYmFyYmF6cXV4cXV1eA", "hunter2-hunter2"
    stream = io.StringIO()
    config = log_config(fmt)
    config["handlers"]["default"]["stream"] = stream
    config.pop("root")
    config["loggers"] = {"redaction-test": {"handlers": ["default"], "level": "INFO", "propagate": False}}
    logging.config.dictConfig(config)
    log = logging.getLogger("redaction-test")
    try:
        try:
            raise RuntimeError(f"push to https://push.example/send?access_token={token} failed")
        except RuntimeError:
            log.exception("web push failed")
        log.info(
            "callback", extra={"url": f"https://cb.example/?key={key}", "to": PHONE, "body": {"password": password}}
        )
        log.info("%s: %s (%s)", "default", f"workers.jobs.fetch('https://x.example/?token={token}', '{PHONE}')", "j1")
        log.info("token=%s", token)
        log.warning("headers: %s", {"authorization": f"Bearer {token}", "x-api-key": key})
        log.warning("upstream refused Authorization: Bearer %s", "opaque-bearer-value-42")
    finally:
        logging.getLogger("redaction-test").handlers.clear()
    out = stream.getvalue()
    for value in (token, key, password, PHONE, "opaque-bearer-value-42"):
        assert value not in out, (value, out)
    lines = out.splitlines()
    if fmt == "json":
        entries = [json.loads(line) for line in lines]
        assert "access_token=***" in entries[0]["exc"] and entries[0]["msg"] == "web push failed"
        assert entries[1]["url"] == "https://cb.example/?key=***" and entries[1]["to"] == "138****5678"
        assert entries[1]["body"] == {"password": "***"}
        assert entries[2]["msg"] == "default: workers.jobs.fetch('https://x.example/?token=***', '138****5678') (j1)"
    else:
        assert "access_token=***" in out and "RuntimeError" in out
        assert "workers.jobs.fetch('https://x.example/?token=***', '138****5678') (j1)" in out
    assert "token=***" in out and "Authorization: Bearer ***" in out
    assert "{'authorization': '***', 'x-api-key': '***'}" in out


def test_database_errors_do_not_echo_their_parameters(env):
    """A failed statement's message (logged with its traceback) names the SQL, never the values bound to it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with Session(get_engine()) as session, pytest.raises(DBAPIError) as failed:
        session.execute(text("SELECT reporter_phone FROM no_such_table WHERE reporter_phone = :p"), {"p": PHONE})
    assert "no_such_table" in str(failed.value)
    assert PHONE not in str(failed.value)  # what a log line or a traceback shows
