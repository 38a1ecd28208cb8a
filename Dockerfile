# Shangliang 商量 application image (API, worker and migrations; see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SHANGLIANG_VAR_DIR=/app/var

WORKDIR /app
RUN useradd --system --create-home --uid 10001 shangliang

COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
COPY workers ./workers
COPY web ./web
COPY qr ./qr
RUN pip install . \
 && mkdir -p /app/var \
 && chown shangliang:shangliang /app/var

USER shangliang
EXPOSE 8000
CMD ["shangliang", "serve", "--host", "0.0.0.0", "--port", "8000"]
