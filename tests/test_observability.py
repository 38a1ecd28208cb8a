"""Operations: /metrics after a scripted scenario, request ids (echoed, generated, carried into jobs' JSON
logs), /readyz with the database or Redis down, and who may read /metrics."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable

import pytest
from helpers import api_key, auth, board, create_member, recv, user_token
from prometheus_client.parser import text_string_to_metric_families

from dispatch import broker as broker_mod
from dispatch.observability.jobs import ContextQueue
from dispatch.observability.logs import JsonFormatter

Samples = dict[tuple[str, frozenset], float]


def scrape(api, **headers: str) -> Samples:
    res = api.get("/metrics", headers=headers)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(res.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(check: Callable[[], object], timeout: float = 20, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def hotline(api, key: str, external_id: str, *, lat=None, lon=None, request_id: str | None = None):
    body = {"external_id": external_id, "content": "楼道灯不亮"}
    if lat is not None:
        body |= {"lat": lat, "lon": lon}
    headers = {"X-API-Key": key} | ({"X-Request-ID": request_id} if request_id else {})
    return api.post("/api/intake/hotline", headers=headers, json=body)


def two_towns(api, op: str) -> tuple[dict, dict]:
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    a = villages[0]
    return a, next(v for v in villages if v["parent_code"] != a["parent_code"])


# --------------------------------------------------------------------------- the scripted scenario


def test_metrics_after_a_scripted_scenario_show_the_right_counts(api, server):
    op = user_token(api, "operator")
    key = api_key()
    here, elsewhere = two_towns(api, op)
    create_member(api, op, town_code=here["parent_code"], lat=here["lat"], lon=here["lon"], capacity=1)
    res = api.post(
        "/api/points",
        json={"name": "议事室", "kind": "consultation_room", "village_code": elsewhere["code"]},
        headers=auth(op),
    )
    assert res.status_code == 201, res.text
    qr_token = res.json()["qr_token"]
    before = scrape(api)

    # 3 hotline work orders (one next to the member: the one dispatch), one re-sent; 2 QR reports elsewhere
    first = hotline(api, key, "obs-1", lat=here["lat"], lon=here["lon"])
    assert first.status_code == 201 and first.json()["status"] == "offered", first.text
    for ext in ("obs-2", "obs-3"):
        assert hotline(api, key, ext).status_code == 201
    assert hotline(api, key, "obs-2").status_code == 200  # idempotent re-send: the same case
    for _ in range(2):
        res = api.post(f"/api/intake/qr/{qr_token}", data={"content": "路灯不亮", "category": "城乡建设"})
        assert res.status_code == 201, res.text
        assert res.json()["status"] == "escalated"  # nobody covers that town
    for _ in range(2):
        assert api.get(f"/api/cases/{first.json()['id']}", headers=auth(op)).status_code == 200

    # a job that fails, and two jobs waiting on a queue no worker listens to
    queue = broker_mod.get_broker().queue
    queue.enqueue("workers.jobs.no_such_job", job_id="obs-failing")
    idle = ContextQueue("obs-idle", connection=broker_mod.get_broker().raw)
    idle.enqueue("workers.jobs.weekly_report")
    idle.enqueue("workers.jobs.weekly_report")

    with board(server, op) as ws:
        assert recv(ws)["type"] == "hello"
        after = wait_for(
            lambda: (
                (s := scrape(api))
                and value(s, "shangliang_jobs_failed", queue="shangliang")
                > value(before, "shangliang_jobs_failed", queue="shangliang")
                and s
            ),
            what="the failed job",
        )
        assert value(after, "shangliang_websocket_clients", socket="board") == 1
        assert value(after, "shangliang_websocket_clients", socket="member") == 0

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("shangliang_intake_total", channel="hotline") == 3
    assert delta("shangliang_intake_total", channel="qr") == 2
    assert delta("shangliang_intake_total", channel="mail") == 0
    assert delta("shangliang_intake_duplicates_total", channel="hotline") == 1
    assert delta("shangliang_offers_total") == 1
    assert delta("shangliang_dispatch_latency_seconds_count") == 1
    assert 0 <= delta("shangliang_dispatch_latency_seconds_sum") < 5
    assert delta("shangliang_dispatch_latency_seconds_bucket", le="5.0") == 1
    assert delta("shangliang_jobs_failed", queue="shangliang") == 1
    assert value(after, "shangliang_queue_depth", queue="obs-idle") == 2
    assert value(after, "shangliang_redis_up") == 1 and value(after, "shangliang_database_up") == 1
    assert value(after, "shangliang_outbox_pending") == 0  # everything relayed: the board saw it live
    assert value(after, "shangliang_outbox_lag_seconds") == 0
    # HTTP by route template, not raw path
    route = {"method": "GET", "route": "/api/cases/{case_id}", "status": "200"}
    assert delta("shangliang_http_requests_total", **route) == 2
    assert delta("shangliang_http_requests_total", method="POST", route="/api/intake/hotline", status="201") == 3
    assert delta("shangliang_http_requests_total", method="POST", route="/api/intake/hotline", status="200") == 1
    assert not any(
        k[0] == "shangliang_http_requests_total" and ("route", f"/api/cases/{first.json()['id']}") in k[1]
        for k in after
    )
    # the socket has gone: the gauge follows
    wait_for(
        lambda: value(scrape(api), "shangliang_websocket_clients", socket="board") == 0, what="the socket to close"
    )


# --------------------------------------------------------------------------- request ids and logs


def test_request_id_is_echoed_or_generated(api):
    given = api.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2026:abc"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.2026:abc"
    made = api.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert api.get("/healthz").headers["X-Request-ID"] != made.headers["X-Request-ID"]
    for bad in ("has spaces in it", "x" * 200, "<script>"):
        res = api.get("/healthz", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", res.headers["X-Request-ID"])  # replaced, not echoed
    # errors carry it too
    missing = api.get("/api/cases/999999", headers={"X-Request-ID": "err-1"})
    assert missing.status_code == 401 and missing.headers["X-Request-ID"] == "err-1"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_logs():
    handler = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.settings(offer_timeout_s=1)
def test_the_offer_timeout_job_logs_the_request_id_of_the_intake(json_logs, api, server):
    op = user_token(api, "operator")
    here, _ = two_towns(api, op)
    create_member(api, op, town_code=here["parent_code"], lat=here["lat"], lon=here["lon"])
    res = hotline(api, api_key(), "rid-1", lat=here["lat"], lon=here["lon"], request_id="intake-rid-42")
    assert res.status_code == 201 and res.json()["status"] == "offered"
    assert res.headers["X-Request-ID"] == "intake-rid-42"

    def job_lines() -> list[dict]:
        entries = [json.loads(line) for line in list(json_logs.lines)]
        return [e for e in entries if e.get("job_func") == "workers.jobs.offer_timeout"]

    found = wait_for(lambda: [e for e in job_lines() if " done in " in e["msg"]], what="the offer-timeout job")
    done = found[0]
    assert done["request_id"] == "intake-rid-42"
    assert done["job_id"].startswith("offer-timeout-")
    assert done["level"] == "INFO" and done["logger"] == "dispatch.observability.jobs"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", done["ts"])
    started = [e for e in job_lines() if " started: " in e["msg"]]
    assert started and started[0]["request_id"] == "intake-rid-42"
    # the case really moved on in that job (expired, then escalated: nobody else)
    case = api.get(f"/api/cases/{res.json()['id']}", headers=auth(op)).json()
    assert case["status"] == "escalated"


def test_text_and_json_log_lines_carry_the_request_id():
    from dispatch.observability.context import request_id_var
    from dispatch.observability.logs import ContextFilter, log_config

    record = logging.makeLogRecord(
        {"name": "dispatch.test", "levelno": logging.WARNING, "levelname": "WARNING", "msg": "case %s", "args": (7,)}
    )
    record.case_id = 7
    token = request_id_var.set("rid-text")
    try:
        ContextFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
        text = logging.Formatter(log_config("text")["formatters"]["default"]["format"]).format(record)
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "case 7" and line["request_id"] == "rid-text" and line["case_id"] == 7
    assert "[rid-text]" in text and "case 7" in text


# --------------------------------------------------------------------------- readiness and outages


@pytest.mark.settings(sweep_interval_s=0.5, relay_interval_s=0.2)
def test_redis_down_shows_in_readyz_and_metrics_and_the_outbox_lag_recovers(outage, api, server):
    cut, restore = outage
    key = api_key()
    cut()
    assert api.get("/readyz").status_code == 503
    assert hotline(api, key, "lag-1").status_code == 201  # committed; its events wait in the outbox
    during = wait_for(lambda: (s := scrape(api)) and value(s, "shangliang_outbox_lag_seconds") >= 0.3 and s, what="lag")
    assert value(during, "shangliang_redis_up") == 0
    assert value(during, "shangliang_outbox_pending") == 2  # case.created and case.escalated
    assert not any(k[0] == "shangliang_queue_depth" for k in during)  # unknown, not zero
    restore()
    after = wait_for(
        lambda: (s := scrape(api)) and value(s, "shangliang_outbox_pending") == 0 and s, what="the relay to catch up"
    )
    assert value(after, "shangliang_outbox_lag_seconds") == 0 and value(after, "shangliang_redis_up") == 1
    assert api.get("/readyz").status_code == 200


def test_readyz_reports_the_database_down(db_outage, api, server):
    cut, restore = db_outage
    assert api.get("/readyz").status_code == 200
    cut()
    ready = api.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["checks"]["database"].startswith("error") and body["checks"]["redis"] == "ok"
    assert body["error"]["code"] == "dependency_unavailable"
    assert value(scrape(api), "shangliang_database_up") == 0  # /metrics still answers
    restore()
    wait_for(lambda: api.get("/readyz").status_code == 200, what="the database to be back")


# --------------------------------------------------------------------------- who may read /metrics


@pytest.mark.settings(metrics_token="scrape-me-0123456789")
def test_metrics_need_the_bearer_token_when_one_is_set(api):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic scrape-me-0123456789"}):
        res = api.get("/metrics", headers=headers)
        assert res.status_code == 401
        assert res.json()["error"]["code"] == "metrics_token_required"
    samples = scrape(api, Authorization="Bearer scrape-me-0123456789")
    assert ("shangliang_database_up", frozenset()) in samples


def test_metrics_without_a_token_answer_this_host_only(api):
    scrape(api)  # a direct request from 127.0.0.1
    res = api.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})  # through a proxy: anyone
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "metrics_local_only"
    assert api.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
