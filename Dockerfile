# syntax=docker/dockerfile:1.7
# One image for every Concilia process (docs/adr/0005-one-image.md): the Helm chart chooses the
# process with the container command, exactly as docs/developing.md lists them, e.g.
#   python -m services.identity.api
#   python -m concilia.chassis.run_worker services.identity.worker
#   gunicorn -c python:services.gateway.gunicorn_conf "services.gateway.app:create_app()"
#   python -m concilia.chassis.migrate services.identity
# Build: docker build -t concilia:$(git describe --tags) .
# Pin the base by digest in release builds: --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# --- build: the virtualenv, by the same script CI runs ----------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt scripts/install-image-deps.sh /build/
RUN bash /build/install-image-deps.sh /opt/venv /build/requirements.txt
# Source tree as the repository lays it out: countries/ must stay next to lib/ (the default
# country-pack folder is found relative to the code).
COPY lib/ /app/lib/
COPY services/ /app/services/
COPY countries/ /app/countries/
RUN /opt/venv/bin/python -m compileall -q /app/lib /app/services

# --- runtime: no build tools, no root ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="concilia" \
      org.opencontainers.image.description="Concilia: every api, worker, the gateway and migrations" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 concilia \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin concilia
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/lib:/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TMPDIR=/tmp
WORKDIR /app
# Numeric user so Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE 50051 8080 9090
# Default process: the gateway (the chart always sets the command explicitly).
CMD ["gunicorn", "-c", "python:services.gateway.gunicorn_conf", "services.gateway.app:create_app()"]
