"""Unknown query parameters are refused, not ignored.

A misspelt parameter (``from`` for ``start``) used to fall back silently to its default and answer a
different question than the one asked; every ``/api/`` route now answers it 422 ``unknown_parameter``,
naming the parameters it does know. The names a route knows are read once from its FastAPI dependant
(its own query parameters, those of its dependencies and the fields of query-parameter models).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from dispatch.errors import AppError

_CHECKED = ("/api/",)
# read outside any route's signature: ratelimit.credential takes an API key as ``api_key``
ALWAYS_KNOWN = frozenset({"api_key"})
_known: dict[int, frozenset[str]] = {}


def known_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter name ``dependant`` reads, through its whole tree of dependencies."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names.update(info.alias or name for name, info in model.model_fields.items())
            else:
                names.add(field.alias)
        stack.extend(current.dependencies)
    return frozenset(names | ALWAYS_KNOWN)


def unknown(given: Iterable[str], known: frozenset[str]) -> list[str]:
    return sorted({name for name in given if name not in known})


async def refuse_unknown_query(conn: HTTPConnection) -> None:
    """An app-wide dependency: 422 for a query parameter the matched ``/api/`` route does not take."""
    if conn.scope["type"] != "http" or not conn.url.path.startswith(_CHECKED) or not conn.query_params:
        return
    route = conn.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known.get(id(route))
    if known is None:
        known = _known[id(route)] = known_names(route.dependant)
    extra = unknown(conn.query_params.keys(), known)
    if extra:
        raise AppError(
            "unknown_parameter",
            f"不认识的查询参数：{', '.join(extra)}",
            f"Unknown query parameter: {', '.join(extra)}",
            status=422,
            unknown=extra,
            known=sorted(known - ALWAYS_KNOWN),
        )
