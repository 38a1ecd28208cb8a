"""GET /metrics: the Prometheus text exposition of this process.

Access: with ``SHANGLIANG_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>``; without it, only direct
requests from this host (a loopback peer and no forwarding header, so nothing that came through a proxy).
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dispatch.config import get_settings
from dispatch.errors import Forbidden, Unauthorized
from dispatch.observability import metrics

router = APIRouter()

_FORWARDING = ("x-forwarded-for", "x-real-ip", "forwarded")


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_access(request: Request) -> None:
    token = get_settings().metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized(
                "metrics_token_required",
                "需要监控令牌（Authorization: Bearer）",
                "The metrics token is required (Authorization: Bearer)",
            )
        return
    direct = not any(h in request.headers for h in _FORWARDING)
    if not (direct and _loopback(request.client.host if request.client else None)):
        raise Forbidden(
            "metrics_local_only",
            "未设置 SHANGLIANG_METRICS_TOKEN 时，仅本机可读取监控指标",
            "Without SHANGLIANG_METRICS_TOKEN, metrics are served to this host only",
        )


@router.get("/metrics", tags=["ops"], include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    check_access(request)
    body, content_type = await run_in_threadpool(metrics.render)  # the collectors query Redis and the database
    return Response(body, media_type=content_type)
