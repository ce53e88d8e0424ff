# The app, the seed job and Locust in docker compose share this image.
FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY realtime ./realtime
COPY chaos ./chaos
COPY loadtests ./loadtests
RUN pip install --no-cache-dir '.[load,chaos]'
ENV LOG_DIR=/srv/logs PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["realtime", "serve", "--host", "0.0.0.0", "--port", "8000"]
