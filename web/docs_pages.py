"""The API's own documentation (Swagger UI at /docs, ReDoc at /redoc) from vendored assets, and the site icon:
nothing is loaded from another host, so they work offline and inside a government intranet."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from web.assets import STATIC, url

ICON = "/favicon.ico"
TITLE = "Shangliang 商量 API"
router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=TITLE,
        swagger_js_url=url("vendor/swagger-ui/swagger-ui-bundle.js"),
        swagger_css_url=url("vendor/swagger-ui/swagger-ui.css"),
        swagger_favicon_url=ICON,
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
    )


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title=TITLE,
        redoc_js_url=url("vendor/redoc/redoc.standalone.js"),
        redoc_favicon_url=ICON,
        with_google_fonts=False,
    )


@router.get(ICON)
def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"})
