"""Schemathesis over the whole OpenAPI schema, against the live server, signed in as an admin.

Checks: no 5xx, every response's status is documented, and every documented response matches its schema.
Sized by SHANGLIANG_FUZZ_EXAMPLES (examples per operation, default 10): about 30 s per backend.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from helpers import api_key, auth, create_member, user_token
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from sqlmodel import Session, select

from dispatch.app import create_app
from dispatch.auth.models import User
from dispatch.auth.service import issue_token
from dispatch.db import get_engine


@schemathesis.serializer("message/rfc822")
def raw_mail(_context, value) -> bytes:
    """The mail door takes a raw message: generated strings are sent as its bytes."""
    return value.encode() if isinstance(value, str) else str(value).encode()


EXAMPLES = int(os.environ.get("SHANGLIANG_FUZZ_EXAMPLES", "10"))
SCHEMA = schemathesis.openapi.from_dict(create_app(start_background=False).openapi())
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _seed(api, admin: str) -> None:
    """A little of everything, so that small ids (1, 2) lead somewhere."""
    village = api.get("/api/regions", params={"level": "village"}, headers=auth(admin)).json()[0]
    create_member(api, admin, name="委员甲", level="district", lat=33.35, lon=120.15)
    point = {"name": "议事室", "kind": "consultation_room", "village_code": village["code"]}
    assert api.post("/api/points", json=point, headers=auth(admin)).status_code == 201
    assert api.post("/api/departments", json={"name": "住建局"}, headers=auth(admin)).status_code in (201, 422)
    for n in range(2):
        body = {"content": f"来电：路灯不亮{n}", "lat": 33.3, "lon": 120.1}
        assert api.post("/api/cases", json=body, headers=auth(admin)).status_code == 201


def _fuzz(operation, base_url: str, headers: dict, open311: bool):
    """A Hypothesis test of one operation (Open311 answers in its own error format: server errors only)."""
    checks = [not_a_server_error] if open311 else CHECKS

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=checks)

    return run


def _session_token(username: str) -> str:
    with Session(get_engine()) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        token, _ = issue_token(session, user)
        session.commit()
    return token


def test_the_api_matches_its_schema_and_never_fails(api, server):
    admin = user_token(api, "admin", "boss")
    _seed(api, admin)
    key = api_key("hotline,mail,open311")
    failures: list[str] = []
    operations = [result.ok() for result in SCHEMA.get_all_operations()]
    assert len(operations) > 80

    for operation in operations:
        open311 = operation.path.startswith("/open311/")
        # a session of its own per operation: sign-out and a password reset of the admin end the ones before
        run = _fuzz(operation, server.url, {"X-API-Key": key} if open311 else auth(_session_token("boss")), open311)
        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - gather every failure, report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("path", ["/openapi.json"])
def test_every_operation_documents_the_error_body(api, path):
    schema = api.get(path).json()
    assert "ErrorBody" in schema["components"]["schemas"]
    for route, item in schema["paths"].items():
        if route.startswith("/open311/"):
            continue
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") or code == "default" for code in responses), (method, route)
            for code in ("401", "403", "404", "422", "429"):
                assert responses[code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
