"""What the scale benchmarks share: a scratch database, the app's processes as compose runs them, a cheap
HTTP/websocket client, percentiles, RSS, and the markdown block each script prints.

Not a benchmark itself (``make bench`` skips files starting with ``_``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/shangliang"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
LOGS = Path(tempfile.mkdtemp(prefix="sl-bench-"))


# ---- numbers ---------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (``values`` need not be sorted)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f}"


# ---- settings ---------------------------------------------------------------------------------------------


def database_base() -> str:
    """The PostgreSQL server of SHANGLIANG_DATABASE_URL (its database name is replaced by the scratch one)."""
    return os.environ.get("SHANGLIANG_DATABASE_URL") or DEFAULT_PG


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def redis_url(default: str = DEFAULT_REDIS) -> str:
    url = os.environ.get("BENCH_REDIS_URL") or default
    if urlsplit(url).path in ("", "/", "/0"):
        raise SystemExit(f"refusing to flush Redis database 0 ({url}); pick another, e.g. {DEFAULT_REDIS}")
    return url


def scratch_database(name: str) -> str:
    """Drop and create database ``name`` on the configured server; returns its URL."""
    import psycopg

    admin = with_database(database_base(), "postgres").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(database_base(), name)


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


BENCH_SECRET_KEY = secrets.token_urlsafe(32)  # one per run, shared by every process the benchmark starts


def app_env(db_url: str | None, r_url: str | None, **settings: object) -> dict[str, str]:
    """The environment of the app's processes: the given backends plus SHANGLIANG_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHANGLIANG_")}
    if db_url:
        env["SHANGLIANG_DATABASE_URL"] = db_url
    if r_url:
        env["SHANGLIANG_REDIS_URL"] = r_url
    env.setdefault("SHANGLIANG_SECRET_KEY", BENCH_SECRET_KEY)
    for key, value in settings.items():
        env[f"SHANGLIANG_{key.upper()}"] = str(value)
    return env


def use_env(env: dict[str, str]) -> None:
    """Point this process's own ``dispatch`` imports at the same backends."""
    for key in [k for k in os.environ if k.startswith("SHANGLIANG_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("SHANGLIANG_")})
    import dispatch.models  # noqa: F401 - every table, so foreign keys resolve
    from dispatch import broker
    from dispatch.config import get_settings
    from dispatch.db import dispose_engines

    get_settings.cache_clear()
    dispose_engines()
    broker.set_broker(None)


# ---- processes --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A subprocess in its own session; killed with its children (uvicorn workers, RQ scheduler) at the end."""

    def __init__(self, args: list[str], name: str, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.p = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def pids(self) -> list[int]:
        """This process and its descendants."""
        return [self.p.pid, *descendants(self.p.pid)]

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
        self.log.close()

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]


def run(args: list[str], env: dict[str, str], name: str) -> str:
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def shangliang(env: dict[str, str], *args: str) -> str:
    return run([str(BIN / "shangliang"), *args], env, "shangliang " + " ".join(args))


def wait_ready(url: str, proc: Proc, timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            raise SystemExit(f"{proc.name} exited:\n{proc.tail()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{proc.name} not ready after {timeout:.0f} s:\n{proc.tail()}")


def serve(env: dict[str, str], workers: int, name: str = "api") -> tuple[Proc, str]:
    """``shangliang serve --workers N`` (uvicorn worker processes) on a free port."""
    port = free_port()
    proc = Proc(
        [str(BIN / "shangliang"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        name,
        env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    return proc, url


def rq_worker(env: dict[str, str], name: str = "worker", queues: str = "default,analysis", nice: int = 0) -> Proc:
    return Proc([str(BIN / "shangliang"), "worker", "--queues", queues, "--nice", str(nice)], name, env)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of one process in MiB, from /proc (VmRSS, VmHWM)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in values:
                values[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds one process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_named(name: str) -> list[int]:
    """Every process whose command name is ``name`` (postgres, redis-server)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


class CpuMeter:
    """CPU seconds used by named groups of processes between ``start`` and ``stop`` (pids re-read each time,
    so PostgreSQL backends born during the phase count)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {
            name: sum(t - self.before.get(name, {}).get(pid, 0.0) for pid, t in after[name].items())
            for name in self.groups
        }


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


# ---- the app's data ------------------------------------------------------------------------------------------


def prepare(env: dict[str, str], members: int = 300, cases: int = 0) -> dict[str, str]:
    """Migrate, load the demo (members, points), make an operator and a hotline key; returns credentials."""
    shangliang(env, "db", "upgrade")
    shangliang(env, "demo", "--members", str(members), "--cases", str(cases))
    shangliang(env, "users", "create", "--username", "bench-op", "--password", "bench-password-1", "--role", "operator")
    key = shangliang(env, "apikeys", "create", "--name", "bench", "--scopes", "hotline").split()[-1]
    return {"api_key": key, "username": "bench-op", "password": "bench-password-1"}


def token(url: str, creds: dict[str, str]) -> str:
    import httpx

    res = httpx.post(url + "/api/auth/token", json={"username": creds["username"], "password": creds["password"]})
    res.raise_for_status()
    return res.json()["access_token"]


def villages() -> list[dict]:
    from dispatch.regions.reference import load_reference

    return [r for r in load_reference() if r["level"] == "village"]


def messages() -> list[dict[str, str]]:
    """The 4,326 real messages of ../shared/data/messages (title and text), as intake content: varied like a
    real feed, so that hotspots form only where residents really wrote about the same thing."""
    import csv

    with (SHARED_DATA / "messages" / "messages_4326.csv").open(encoding="utf-8") as fh:
        return [
            {"title": r["留言主题"].strip()[:256], "content": r["留言详情"].strip() or r["留言主题"].strip()}
            for r in csv.DictReader(fh)
        ]


# ---- a cheap HTTP/1.1 client (keep-alive; the load generator must not eat the machine) --------------------


class Http:
    """One keep-alive connection; ``post_json`` returns (status, body bytes)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post_json(self, path: str, body: dict, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._post(path, body, headers)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            await self.close()  # the server closed an idle keep-alive connection: once more on a new one
            return await self._post(path, body, headers)

    async def _post(self, path: str, body: dict, headers: dict[str, str] | None) -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
        payload = json.dumps(body, ensure_ascii=False).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        head.append(f"Content-Length: {len(payload)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class WsClient(asyncio.Protocol):
    """A minimal websocket client (text frames from the server, no masking needed to receive).

    ``on_text(payload_bytes, t_received)`` is called for every text frame; ``parse=False`` counts frames only.
    """

    def __init__(self, on_text=None) -> None:
        self.on_text = on_text
        self.buf = bytearray()
        self.handshaken = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, host: str, port: int, path: str, on_text=None) -> WsClient:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: cls(on_text), host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        proto.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await asyncio.wait_for(proto.handshaken, 30)
        return proto

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.handshaken.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.handshaken.set_exception(RuntimeError(self.buf[:200].decode(errors="replace")))
                return
            del self.buf[: end + 4]
            self.handshaken.set_result(True)
        buf = self.buf
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < head + length:
                break
            if opcode == 0x1:
                self.frames += 1
                if self.on_text is not None:
                    self.on_text(bytes(buf[pos + head : pos + head + length]), now)
            elif opcode == 0x9:  # ping: answer as a browser does, or the server's keepalive closes the socket
                self.pong(bytes(buf[pos + head : pos + head + length]))
            elif opcode == 0x8:
                self.close_code = int.from_bytes(buf[pos + head : pos + head + 2], "big") if length >= 2 else None
            pos += head + length
        del buf[:pos]

    def pong(self, payload: bytes) -> None:
        """A masked (client → server) pong frame; ping payloads are at most 125 bytes."""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if self.transport is not None:
            self.transport.write(bytes((0x8A, 0x80 | len(payload))) + mask + masked)

    def connection_lost(self, exc) -> None:
        if not self.handshaken.done():
            self.handshaken.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# ---- the report block ------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": f"{len(os.sched_getaffinity(0))} × {cpu}",
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions(db_url: str | None = None, r_url: str | None = None) -> dict[str, str]:
    from importlib.metadata import version

    out = {}
    if db_url:
        import psycopg

        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    if r_url:
        import redis

        client = redis.Redis.from_url(r_url)
        out["redis"] = client.info("server")["redis_version"]
        client.close()
    for pkg in ("fastapi", "uvicorn", "sqlalchemy", "psycopg", "redis", "rq", "websockets"):
        name = "redis-py" if pkg == "redis" else pkg
        try:
            out[name] = version(pkg)
        except Exception:  # noqa: BLE001
            out[name] = "?"
    return out


def report(title: str, command: str, conditions: dict[str, object], table: list[dict], notes: Iterable[str] = ()):
    """Print the self-contained markdown block the docs take: conditions, then the figures."""
    print()
    print(f"### {title}")
    print()
    print(f"`{command}`")
    print()
    facts = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **machine(),
        "loadavg (1/5/15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        **conditions,
    }
    print("| condition | value |")
    print("|---|---|")
    for key, value in facts.items():
        print(f"| {key} | {value} |")
    if table:
        print()
        cols = list(table[0])
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---:" if isinstance(table[0][c], int | float) else "---" for c in cols) + "|")
        for row in table:
            print("| " + " | ".join(_cell(row[c]) for c in cols) + " |")
    notes = list(notes)
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    print(flush=True)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool, text: str) -> str:
    return f"**{'met' if ok else 'NOT met'}**: {text}"
