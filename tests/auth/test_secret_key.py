"""The secret key that signs sign-in tokens: refused when forgeable, made per install on the embedded default,
rotated without signing everybody out; and the lifetime cap on every token whatever its signature."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import time

import httpx
import pytest
from conftest import SECRET_KEY, SERVICES, LiveServer
from helpers import PASSWORD, auth, forge, token_claims, user_token
from procs import BIN, free_port

from dispatch.auth.service import key_id
from dispatch.config import get_settings

ME = "/api/auth/me"


def _production_env(key: str | None) -> dict[str, str]:
    """PostgreSQL and Redis configured (the test's own when there are, else addresses nothing answers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHANGLIANG_")}
    env["SHANGLIANG_DATABASE_URL"] = os.environ.get("SHANGLIANG_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/x")
    env["SHANGLIANG_REDIS_URL"] = os.environ.get("SHANGLIANG_REDIS_URL", "redis://127.0.0.1:9/0")
    env["SHANGLIANG_VAR_DIR"] = os.environ["SHANGLIANG_VAR_DIR"]
    if key is not None:
        env["SHANGLIANG_SECRET_KEY"] = key
    return env


def test_production_shaped_starts_refuse_a_missing_public_or_short_key(env):
    """`shangliang serve`, `shangliang worker` and plain `uvicorn dispatch.asgi:app` with PostgreSQL/Redis
    configured and no usable key: each exits non-zero at once, saying how to make a key."""
    commands = {
        "serve": [str(BIN / "shangliang"), "serve", "--port", str(free_port())],
        "worker": [str(BIN / "shangliang"), "worker", "--burst"],
        "uvicorn": [sys.executable, "-m", "uvicorn", "dispatch.asgi:app", "--port", str(free_port())],
    }
    keys = {
        "unset": None,
        "public default": "dev-only-change-me",
        "placeholder made long": "dev-only-change-me-dev-only-change-me-0123",
        "short": secrets.token_urlsafe(16)[:20],
    }
    runs = {
        (cmd, kind): subprocess.Popen(
            args, env=_production_env(key), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for cmd, args in commands.items()
        for kind, key in keys.items()
    }
    failures = []
    for (cmd, kind), proc in runs.items():
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            failures.append(f"{cmd} with the {kind} key kept running:\n{(out + err)[-800:]}")
            continue
        if proc.returncode == 0:
            failures.append(f"{cmd} with the {kind} key exited 0")
        elif "SHANGLIANG_SECRET_KEY" not in err or "secrets.token_urlsafe(32)" not in err or "Traceback" in err:
            failures.append(f"{cmd} with the {kind} key: unclear message:\n{err[-1500:]}")
    assert not failures, "\n\n".join(failures)

    # the same commands start with a good key (serve/uvicorn only get as far as needing the key here)
    good = _production_env(secrets.token_urlsafe(32))
    out = subprocess.run(
        [sys.executable, "-c", "from dispatch.config import require_secret_key; require_secret_key(); print('ok')"],
        env=good,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _claims_token(api: httpx.Client, username: str) -> tuple[str, dict]:
    token = user_token(api, "operator", username)
    assert api.get(ME, headers=auth(token)).status_code == 200
    return token, token_claims(token)


@pytest.mark.skipif(SERVICES, reason="the embedded default only (with services the key is required)")
def test_the_embedded_default_makes_its_own_key_and_refuses_the_public_one(env, monkeypatch):
    monkeypatch.delenv("SHANGLIANG_SECRET_KEY")
    get_settings.cache_clear()
    path = get_settings().var_dir / "secret_key"
    assert not path.exists()
    with LiveServer() as live, httpx.Client(base_url=live.url, timeout=30) as api:
        token, claims = _claims_token(api, "op")
        uid = claims["uid"]
        public = "dev-only-change-me"
        # the old token format signed with the old public default, as the attacker made it
        old = forge({"uid": uid, "role": "admin", "mid": None, "exp": int(time.time()) + 3600}, public)
        assert api.get(ME, headers=auth(old)).status_code == 401
        # even knowing a live session id: the public key (and its kid) signs nothing this server accepts
        resigned = forge({**claims, "kid": key_id(public)}, public)
        assert api.get(ME, headers=auth(resigned)).status_code == 401
        assert api.get(ME, headers={"Cookie": f"sl_session={resigned}"}).status_code == 401
        # signed instead by this install's own random key, kept private in the var dir
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_text().strip()) >= 32
    # the key is kept: a restart keeps everybody signed in
    with LiveServer() as live, httpx.Client(base_url=live.url, timeout=30) as api:
        assert api.get(ME, headers=auth(token)).status_code == 200


def test_a_token_longer_than_the_ttl_or_without_iat_is_refused_whatever_its_signature(api):
    token, claims = _claims_token(api, "op")
    now = int(time.time())
    assert api.get(ME, headers=auth(forge(claims, SECRET_KEY))).status_code == 200  # the forger signs as we do
    three_years = {**claims, "exp": claims.get("iat", now) + 3 * 365 * 86400}
    assert api.get(ME, headers=auth(forge(three_years, SECRET_KEY))).status_code == 401
    no_iat = {k: v for k, v in claims.items() if k != "iat"}
    assert api.get(ME, headers=auth(forge(no_iat, SECRET_KEY))).status_code == 401
    future = {**claims, "iat": now + 365 * 86400, "exp": now + 365 * 86400 + 3600}  # in the cap, issued "later"
    assert api.get(ME, headers=auth(forge(future, SECRET_KEY))).status_code == 401
    expired = {**claims, "iat": now - 7200, "exp": now - 60}
    assert api.get(ME, headers=auth(forge(expired, SECRET_KEY))).status_code == 401
    # pages and sockets read tokens the same way
    page = api.get("/board", headers={"Cookie": f"sl_session={forge(three_years, SECRET_KEY)}"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert api.get(ME, headers=auth(token)).status_code == 200


def test_a_previous_key_still_verifies_after_a_rotation_and_an_unknown_key_never(env, monkeypatch):
    with LiveServer() as live, httpx.Client(base_url=live.url, timeout=30) as api:
        old_token, claims = _claims_token(api, "op")
    new_key = secrets.token_urlsafe(32)
    monkeypatch.setenv("SHANGLIANG_SECRET_KEY", new_key)
    monkeypatch.setenv("SHANGLIANG_PREVIOUS_SECRET_KEYS", f" {SECRET_KEY} ,")
    get_settings.cache_clear()
    with LiveServer() as live, httpx.Client(base_url=live.url, timeout=30) as api:
        assert api.get(ME, headers=auth(old_token)).status_code == 200  # nobody signed out by the rotation
        new_token = api.post("/api/auth/token", json={"username": "op", "password": PASSWORD}).json()["access_token"]
        assert token_claims(new_token)["kid"] == key_id(new_key) != claims["kid"]
        assert api.get(ME, headers=auth(new_token)).status_code == 200
        stranger = secrets.token_urlsafe(32)
        for kid in (key_id(stranger), claims["kid"], key_id(new_key)):  # an unknown key, whatever kid it claims
            assert api.get(ME, headers=auth(forge({**claims, "kid": kid}, stranger))).status_code == 401
    monkeypatch.delenv("SHANGLIANG_PREVIOUS_SECRET_KEYS")
    get_settings.cache_clear()
    with LiveServer() as live, httpx.Client(base_url=live.url, timeout=30) as api:
        assert api.get(ME, headers=auth(old_token)).status_code == 401  # the old key retired: its tokens end
        assert api.get(ME, headers=auth(new_token)).status_code == 200
