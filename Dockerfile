# The full gpufleet image: one entry point (`gpufleet`) for every service in compose.yaml
# (migrate, kafka topics, ingest, emit, bridge, grafana export). No secrets in the image:
# they come from the environment at run time (.env, see .env.example).
# Dependencies first, from the pinned resolution (constraints/all.txt, scripts/lock-constraints),
# so a code change rebuilds only the last layers and never downloads chdb again.
# The GPU node's image is Dockerfile.collector (no store, no chDB).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY constraints/all.txt constraints/all.txt
RUN pip install --quiet -r constraints/all.txt
COPY pyproject.toml README.md LICENSE ./
COPY gpufleet gpufleet
COPY collectors collectors
COPY pipeline pipeline
COPY storage storage
COPY dashboards dashboards
# --no-deps: everything above is already in; -c makes pip refuse to drift from the pins
RUN pip install --quiet --no-deps -c constraints/all.txt '.[all]' \
    && pip check \
    && useradd --system --uid 10001 --home-dir /data gpufleet \
    && mkdir -p /data /provisioning \
    && chown gpufleet /data /provisioning

USER gpufleet
WORKDIR /data
ENTRYPOINT ["gpufleet"]
CMD ["--help"]
