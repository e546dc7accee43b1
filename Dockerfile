# warmstart service image: slim, non-root, CPU-only torch, health-checked.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WARMSTART_DATA_DIR=/var/lib/warmstart

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 warmstart \
    && mkdir -p /var/lib/warmstart && chown warmstart:warmstart /var/lib/warmstart

WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
# The CPU wheel of torch first, from PyTorch's CPU index, so that nothing pulls a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY service ./service
COPY metastore ./metastore
COPY learners ./learners
COPY migrations ./migrations
COPY docker/entrypoint.sh /usr/local/bin/warmstart-entrypoint
RUN pip install -c constraints.txt . && chmod 0755 /usr/local/bin/warmstart-entrypoint

USER warmstart
EXPOSE 8000
VOLUME ["/var/lib/warmstart"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
ENTRYPOINT ["warmstart-entrypoint"]
CMD ["warmstart", "serve", "--host", "0.0.0.0", "--port", "8000"]
