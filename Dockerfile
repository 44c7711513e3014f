# The service image. BASE_IMAGE is an official slim Python image in production; machines
# without an image registry pass a locally made Debian base that has python3-venv.
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/venv
# Dependencies in their own layer: rebuilt only when the lock changes.
COPY app/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-deps -r /tmp/requirements.txt

FROM ${BASE_IMAGE} AS runtime
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/data && chown app /app/data
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY app/ /app/app/
# Build metadata last, so a new version reuses every layer above.
ARG VERSION=dev
ARG COMMIT=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/acout/fastapi-supabase-template
LABEL org.opencontainers.image.title="shipyard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_VERSION=${VERSION} \
    APP_COMMIT=${COMMIT} \
    ENVIRONMENT=production \
    PORT=8000
USER app
EXPOSE 8000
VOLUME ["/app/data"]
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=2)"]
CMD ["python3", "-m", "app"]
