# Two images from one file (docs/operations.md, "Images"):
#   app   (the default, last stage): the server, from the locked base
#         requirements only, as a non-root user, with a readiness healthcheck;
#   load: Locust, the chaos suite and their dependencies, for docker compose's
#         load generator (docker build --target load).

FROM python:3.11-slim AS runtime
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv
COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt
COPY pyproject.toml README.md ./
COPY realtime ./realtime
RUN pip install --no-deps .

FROM runtime AS load
COPY requirements/dev.txt requirements/dev.txt
RUN pip install --require-hashes -r requirements/dev.txt
COPY chaos ./chaos
COPY loadtests ./loadtests
ENV LOG_DIR=/tmp/logs
CMD ["locust", "--config=loadtests/locust.conf"]

FROM runtime AS app
RUN useradd --system --uid 10001 --no-create-home --home-dir /srv orders \
    && mkdir -p /srv/logs /srv/data \
    && chown orders /srv/logs /srv/data
USER 10001
ENV LOG_DIR=/srv/logs DATA_DIR=/srv/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=3)"]
CMD ["realtime", "serve", "--host", "0.0.0.0", "--port", "8000"]
