"""The ASGI entry point for uvicorn: ``uvicorn dispatch.asgi:app``."""

from dispatch.app import create_app

app = create_app()
