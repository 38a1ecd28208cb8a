"""The yardstick of bench_intake.py: a bare FastAPI endpoint that inserts one row with SQLAlchemy Core.

Same database, same JSON body, same commit-before-answering as the real intake, and nothing else: no
validation beyond JSON, no dispatch, no events. Served like the API (uvicorn, the same number of workers):

    BENCH_BARE_DB=postgresql+psycopg://... uvicorn _bare:app --app-dir bench --workers 2
    BENCH_BARE_DB=sqlite:////tmp/bare.db uvicorn _bare:app --app-dir bench   # beside the embedded default
"""

from __future__ import annotations

import json
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text, create_engine, func, insert

metadata = MetaData()
bare = Table(
    "bench_bare",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("external_id", String(128)),
    Column("content", Text, nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
# as a careful engineer sizes it: one connection per request thread (anyio's 40), none opened and closed per
# request. The old 20 + 20 overflow closed overflow connections on return, so PostgreSQL started ~4,000
# sessions per 30 s phase and the yardstick spent about half its CPU on connection set-up.
URL = os.environ["BENCH_BARE_DB"]
if URL.startswith("sqlite"):  # the embedded default's own SQLite set-up: WAL, synchronous=NORMAL, BEGIN IMMEDIATE
    from dispatch.db import make_engine

    engine = make_engine(URL)
    POOL = engine.pool.size()  # type: ignore[attr-defined]
else:
    POOL = int(os.environ.get("BENCH_BARE_POOL", "40"))
    engine = create_engine(URL, pool_size=POOL, max_overflow=0, pool_pre_ping=False)
metadata.create_all(engine, checkfirst=True)
app = FastAPI()


@app.get("/readyz")
def readyz() -> dict:
    return {"status": "ok", "pool_size": POOL, "max_overflow": 0}


@app.post("/bare", status_code=201)
async def intake(request: Request) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    body = json.loads(await request.body())
    new_id = await run_in_threadpool(_insert, body)
    return JSONResponse({"id": new_id}, status_code=201)


def _insert(body: dict) -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(bare)
            .values(
                external_id=body.get("external_id"), content=body["content"], lat=body.get("lat"), lon=body.get("lon")
            )
            .returning(bare.c.id)
        ).scalar_one()
