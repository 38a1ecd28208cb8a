"""Real processes for the fault tests: API servers, RQ workers and a Redis server the tests can kill."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import redis
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float = 30, interval: float = 0.05):
    """Poll ``check()`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        threading.Event().wait(interval)


LOGS = Path(tempfile.mkdtemp(prefix="sl-procs-"))  # not pytest's tmp_path: parallel runs prune those


class Proc:
    """A subprocess in its own session (so its children die with it), output kept in a log file."""

    def __init__(self, args: list[str], name: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log = LOGS / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = log.open("wb")
        full_env = {**os.environ, **(env or {})}
        self.p = subprocess.Popen(
            args, cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and everything in its session (a worker's scheduler too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]


def api_process(name: str, env: dict[str, str] | None = None) -> tuple[Proc, str]:
    """``uvicorn dispatch.asgi:app`` as compose runs an API replica; returns it and its base URL once ready."""
    port = free_port()
    proc = Proc(
        [sys.executable, "-m", "uvicorn", "dispatch.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
        + ["--ws", "websockets-sansio", "--log-level", "warning"],
        name,
        env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, name)
    return proc, url


def serve_process(name: str, env: dict[str, str] | None = None) -> tuple[Proc, str]:
    """``shangliang serve --port P`` as a newcomer runs it; returns it and its base URL once ready."""
    port = free_port()
    proc = Proc([str(BIN / "shangliang"), "serve", "--port", str(port)], name, env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, name)
    return proc, url


def wait_ready(proc: Proc, url: str, name: str) -> None:
    """Until ``url``/readyz answers 200; fails at once, with the process's output, if it exits, and stops it
    if it never gets ready."""

    def ready() -> bool:
        if not proc.alive():
            raise AssertionError(f"{name} exited:\n{proc.output()}")
        try:
            return httpx.get(url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, f"{name} to be ready", timeout=60, interval=0.2)
    except BaseException:
        proc.stop()
        raise


def worker_process(name: str, env: dict[str, str] | None = None) -> Proc:
    """``shangliang worker`` (RQ worker with the scheduler and the maintenance loop), as compose runs it."""
    return Proc([str(BIN / "shangliang"), "worker"], name, env)


def hold_worker_process(name: str, env: dict[str, str] | None = None) -> Proc:
    """``shangliang worker`` with the fault tests' crash point (``tests/holdworker.py``)."""
    return Proc([sys.executable, "-m", "tests.holdworker", "worker"], name, env)


class RedisServer:
    """A redis-server of the test's own, without persistence: a restart loses everything, as it would."""

    def __init__(self, tmp: Path) -> None:
        self.exe = shutil.which("redis-server")
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(up, "redis-server to answer", timeout=20)
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


class ApiServer:
    """The app served by uvicorn in a thread (like conftest's LiveServer), optionally without its RQ worker."""

    def __init__(self, embedded_worker: bool = False) -> None:
        from dispatch.app import create_app
        from dispatch.infra.wsframes import FanoutProtocol

        self.app = create_app(embedded_worker=embedded_worker)
        config = uvicorn.Config(self.app, log_level="warning", ws=FanoutProtocol, lifespan="on")
        self.server = uvicorn.Server(config)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), "the test server", timeout=20)
        port = self.sock.getsockname()[1]
        self.url, self.ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()
