# The gpufleet image: one entry point (`gpufleet`) for every service in compose.yaml
# (migrate, kafka topics, ingest, emit, bridge, grafana export). No secrets in the image:
# they come from the environment at run time (.env, see .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gpufleet gpufleet
COPY collectors collectors
COPY pipeline pipeline
COPY storage storage
COPY dashboards dashboards
RUN pip install --quiet . \
    && useradd --system --uid 10001 --home-dir /data gpufleet \
    && mkdir -p /data /provisioning \
    && chown gpufleet /data /provisioning

USER gpufleet
WORKDIR /data
ENTRYPOINT ["gpufleet"]
CMD ["--help"]
