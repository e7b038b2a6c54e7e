# syntax=docker/dockerfile:1
# Memorial Patrol: `docker build -t memorial-patrol .` then see README "Docker".

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
# Install the dependencies through the project, then drop the project itself:
# the runtime stage runs the source tree, next to its migrations/ and seed/.
RUN /opt/venv/bin/pip install . && /opt/venv/bin/pip uninstall --yes memorial-patrol

FROM python:3.11-slim
# A Chinese TrueType font the PDFs (plates, 一处一表, 一乡一册) embed (app/pdf.py)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /srv/memorial memorial \
    && mkdir -p /var/lib/memorial \
    && chown memorial /var/lib/memorial
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/memorial
COPY app ./app
COPY migrations ./migrations
COPY seed ./seed
RUN printf '#!/bin/sh\nexec python -m app.cli "$@"\n' > /opt/venv/bin/memorial \
    && chmod 755 /opt/venv/bin/memorial
COPY --chmod=755 docker-entrypoint.sh /usr/local/bin/docker-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/srv/memorial \
    PYTHONUNBUFFERED=1 \
    MEMORIAL_ENV=production \
    MEMORIAL_DATA_DIR=/var/lib/memorial
USER memorial
VOLUME ["/var/lib/memorial"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
# migrate, load the reference data (townships, patrol policies; no samples), serve
ENTRYPOINT ["docker-entrypoint"]
