"""The password rule (NIST SP 800-63B) at every door that sets a password: account creation, the admin's reset,
and `shangliang users create`. Weak ones get 422 ``weak_password`` with the reason; nothing is half-changed."""

from __future__ import annotations

import secrets

import pytest
from helpers import PASSWORD, auth, user_token
from typer.testing import CliRunner

from dispatch.cli import app as cli

WEAK = [
    ("        ", "whitespace"),
    ("\t \u3000   \n ", "whitespace"),  # ideographic space too
    ("1234567", "too_short"),
    ("x" * 257, "too_long"),
    ("12345678", "common"),
    ("password", "common"),
    ("P@ssw0rd!", "common"),  # l33t and a symbol
    ("Dragon-2024", "common"),  # a list word with a year
    ("5201314a", "common"),  # 我爱你一生一世
    ("woaini1314", "common"),
    ("qq123456", "common"),
    ("a123456789", "common"),
    ("1qaz2wsx", "common"),
    ("aaaaaaaa", "repetitive"),
    ("abcabcabcabc", "repetitive"),
    ("98765432", "sequential"),
    ("abcdefghij", "sequential"),
    ("rstuvwxyz1", "sequential"),
    ("clerk-li-2024", "contains_username"),
    ("my-shangliang-pw", "contains_service_name"),
]
STRONG = [
    PASSWORD,
    "long-enough-1",
    "另一个很长的中文密码",
    "tidal basin lamp",  # spaces are fine
    secrets.token_urlsafe(48),  # 64 characters
    ("harbour " + " ".join(secrets.token_hex(3) for _ in range(40)))[:256],  # the longest allowed
]


def test_weak_passwords_are_refused_with_the_reason_and_strong_ones_accepted(api):
    admin = user_token(api, "admin", "root")
    for password, reason in WEAK:
        res = api.post(
            "/api/users", json={"username": "clerk-li", "password": password, "role": "operator"}, headers=auth(admin)
        )
        assert res.status_code == 422, (password, res.text)
        error = res.json()["error"]
        assert error["code"] == "weak_password" and error["details"]["reason"] == reason, (password, error)
        assert " / " in error["message"]  # 中文 / English
    assert [u["username"] for u in api.get("/api/users", headers=auth(admin)).json()] == ["root"]
    for i, password in enumerate(STRONG):
        res = api.post(
            "/api/users", json={"username": f"clerk{i}", "password": password, "role": "operator"}, headers=auth(admin)
        )
        assert res.status_code == 201, (password, res.text)
        assert api.post("/api/auth/token", json={"username": f"clerk{i}", "password": password}).status_code == 200


def test_a_weak_reset_changes_nothing(api):
    admin = user_token(api, "admin", "root")
    op = user_token(api, "operator", "op")
    uid = api.get("/api/auth/me", headers=auth(op)).json()["id"]
    for password, reason in (("op-op-op-op", "repetitive"), ("op123456", "common"), ("iloveyou2024", "common")):
        res = api.patch(f"/api/users/{uid}", json={"password": password, "role": "supervisor"}, headers=auth(admin))
        assert res.status_code == 422 and res.json()["error"]["code"] == "weak_password", res.text
        assert res.json()["error"]["details"]["reason"] == reason
    # neither the password, nor the role sent with it, nor the account's sessions changed
    me = api.get("/api/auth/me", headers=auth(op))
    assert me.status_code == 200 and me.json()["role"] == "operator"
    assert api.post("/api/auth/token", json={"username": "op", "password": PASSWORD}).status_code == 200
    assert api.post("/api/auth/token", json={"username": "op", "password": "iloveyou2024"}).status_code == 401


@pytest.mark.parametrize(("password", "reason"), [("12345678", "常见密码"), ("aaaaaaaa", "重复")])
def test_the_cli_applies_the_same_rule(env, password, reason):
    result = CliRunner().invoke(
        cli, ["users", "create", "--username", "op1", "--password", password, "--role", "operator"]
    )
    assert result.exit_code != 0
    assert reason in result.stderr and "Traceback" not in result.output
