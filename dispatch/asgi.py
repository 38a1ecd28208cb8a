"""The ASGI entry point for uvicorn: ``uvicorn dispatch.asgi:app``."""

import sys

from dispatch.app import create_app
from dispatch.config import InsecureSecretKey

try:
    app = create_app()
except InsecureSecretKey as exc:  # a clear word and a non-zero exit, not a traceback (uvicorn imports this)
    sys.exit(str(exc))
