"""The app factory: routers, error handling, body limits, and the lifespan of the background threads."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch import errors, wiring
from dispatch.auth.service import check_sessions
from dispatch.broker import get_broker
from dispatch.clientaddr import ClientAddress
from dispatch.config import get_settings, require_secret_key
from dispatch.db import get_engine, ping
from dispatch.errors import error_body
from dispatch.events.hub import Hub
from dispatch.jsonbody import JsonBody
from dispatch.maintenance import Maintenance
from dispatch.observability.logs import install_redaction
from dispatch.observability.middleware import RequestContext
from dispatch.queryparams import refuse_unknown_query

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse bodies over the limit with 413, whether or not Content-Length was sent."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413)  # the error handler words it; FastAPI re-raises it from parsing
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        mb = self.limit // 1048576
        body = error_body(
            "body_too_large",
            f"请求体不能超过 {mb} MB / The request body may be at most {mb} MB",
            {"limit_bytes": self.limit},
        )
        await JSONResponse(body, status_code=413)(scope, receive, send)


class SecurityHeaders:
    """Pure ASGI on purpose: ``@app.middleware("http")`` reads the body through a task group, which wraps the
    413 that ``BodyLimit`` raises mid-stream in an ExceptionGroup no handler matches — a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = security_headers()
        # Swagger UI and ReDoc (vendored, web/docs_pages.py) start with inline boot code: their own policy,
        # still nothing from another host
        self.docs_csp = (
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; worker-src 'self' blob:; frame-ancestors 'none'"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope.get("path") in ("/docs", "/redoc", "/docs/oauth2-redirect")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                for name, value in self.headers.items():
                    headers.setdefault(name, self.docs_csp if docs and name == "Content-Security-Policy" else value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_headers() -> dict[str, str]:
    """Headers for every answer (docs/security.md): CSP without inline scripts (styles may be inline: the
    map and chart libraries write style attributes), map tiles from the configured host, no framing."""
    from urllib.parse import urlsplit

    settings = get_settings()
    img = ["'self'", "data:", "blob:"]
    tiles = urlsplit(settings.map_tile_url) if settings.map_tile_url else None
    if tiles and tiles.scheme in ("http", "https") and tiles.netloc:
        host = tiles.netloc.replace("{s}", "*")  # Leaflet's subdomains: {s}.tile.example
        img.append(f"{tiles.scheme}://{host.split('{')[0] if '{' in host else host}")
    csp = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {' '.join(img)}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "geolocation=(self), camera=(self), microphone=(), payment=(), usb=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if settings.public_base_url.startswith("https://"):
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


# already compressed inside (zip containers, PDF streams) or opaque bytes: gzip would only cost CPU
UNCOMPRESSED_TYPES = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "application/pdf",
    "application/octet-stream",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


def create_app(*, start_background: bool = True, embedded_worker: bool | None = None) -> FastAPI:
    settings = get_settings()
    require_secret_key(settings)  # InsecureSecretKey: no app that signs tokens with a forgeable key
    wiring.install()  # what follows each case move, whichever door it came through

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        install_redaction()  # on the log handlers of whoever started us (shangliang serve, uvicorn, tests)
        broker = get_broker()
        hub = app.state.hub = Hub(
            broker,
            settings.stream_key,
            settings.socket_queue_size,
            settings.socket_buffer_bytes,
            settings.fanout_interval_ms / 1000,
            settings.session_check_interval_s,
            check_sessions,
        )
        background: list = []
        if start_background:
            hub.start(asyncio.get_running_loop())
            maintenance = Maintenance()
            maintenance.start()
            background.append(maintenance)
            run_worker = broker.embedded and settings.embedded_worker if embedded_worker is None else embedded_worker
            if run_worker:
                from workers.embedded import EmbeddedWorker

                worker = EmbeddedWorker(broker.queues)
                worker.start()
                background.append(worker)
                if settings.imap_url:
                    from dispatch.intake.flows import schedule_poll

                    schedule_poll()
        try:
            yield
        finally:
            # ask every thread to stop first, then wait: their poll intervals overlap instead of adding up
            for item in (hub, *background):
                item.request_stop()
            for item in (hub, *reversed(background)):
                item.join()

    app = FastAPI(
        title="Shangliang 商量",
        version="0.1.0",
        description="Command and dispatch for grassroots consultation (有事好商量) beside the 12345 hotline.",
        lifespan=lifespan,
        docs_url=None,  # served by web.docs_pages from vendored assets
        redoc_url=None,
        dependencies=[Depends(refuse_unknown_query)],
    )
    from web.render import error_page

    errors.install(app, page=error_page)

    from dispatch.analysis.views import router as analysis_router
    from dispatch.auth.users import router as users_router
    from dispatch.auth.views import router as auth_router
    from dispatch.callbacks.views import router as callbacks_router
    from dispatch.cases.views import router as cases_router
    from dispatch.consultations.views import router as consultations_router
    from dispatch.deadlines.views import router as deadlines_router
    from dispatch.departments.views import router as departments_router
    from dispatch.events.views import router as events_router
    from dispatch.experts.views import router as experts_router
    from dispatch.intake.views import router as intake_router
    from dispatch.members.import_views import router as members_import_router
    from dispatch.members.views import router as members_router
    from dispatch.notifications.views import router as notifications_router
    from dispatch.observability.views import router as metrics_router
    from dispatch.points.views import router as points_router
    from dispatch.qrcodes.views import router as qrcodes_router
    from dispatch.regions.views import router as regions_router
    from dispatch.reports.views import router as reports_router
    from web.assets import Assets
    from web.auth_pages import router as auth_pages_router
    from web.callbacks import router as callbacks_pages_router
    from web.docs_pages import router as docs_pages_router
    from web.member import router as member_pages_router
    from web.pages import router as pages_router
    from web.qr_pages import router as qr_pages_router
    from web.render import PageRedirect
    from web.staff import router as staff_pages_router

    @app.exception_handler(PageRedirect)
    async def _page_redirect(_request, exc: PageRedirect):
        return exc.response

    app.mount("/static", Assets(), name="static")
    for router in (
        docs_pages_router,
        reports_router,
        auth_pages_router,
        staff_pages_router,
        member_pages_router,
        auth_router,
        users_router,
        intake_router,
        cases_router,
        experts_router,
        consultations_router,
        deadlines_router,
        members_import_router,
        members_router,
        points_router,
        qrcodes_router,
        qr_pages_router,
        regions_router,
        departments_router,
        events_router,
        callbacks_router,
        notifications_router,
        callbacks_pages_router,
        metrics_router,
        analysis_router,
        pages_router,
    ):
        app.include_router(router)

    from dispatch.audit.views import router as audit_router
    from web.audit_pages import router as audit_pages_router

    app.include_router(audit_router)
    app.include_router(audit_pages_router)

    from dispatch.open311.views import keys_router as open311_keys_router
    from dispatch.open311.views import router as open311_router

    app.include_router(open311_router)
    app.include_router(open311_keys_router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        checks = {}
        for name, probe in (("database", lambda: ping(get_engine())), ("redis", lambda: get_broker().ping())):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - report any failure
                checks[name] = f"error: {exc.__class__.__name__}"
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if ok else "unavailable", "checks": checks}
        return JSONResponse(
            body
            if ok
            else {
                **error_body("dependency_unavailable", "依赖服务不可用 / A dependency is unavailable", checks),
                **body,
            },
            status_code=200 if ok else 503,
        )

    from dispatch.audit.middleware import AuditLog

    app.add_middleware(AuditLog)  # innermost: sees the principal and route the app found
    app.add_middleware(JsonBody)  # every JSON body parsed once, by one set of rules (within the body limit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    # HTML and JSON compressed for phones on weak networks and the board's case list (1.9 MB → ~0.5 MB); static
    # files come compressed once per version (web.assets) and pass through. No page carries a secret an attacker
    # could guess through its compressed size (CSRF is checked by headers, not by a token in the page: BREACH)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6, exclude_content_types=UNCOMPRESSED_TYPES)
    # the request id and HTTP metrics cover every answer, 413s and security refusals included
    app.add_middleware(RequestContext)
    app.add_middleware(ClientAddress)  # outermost: the one client address, before anything reads it
    return app
