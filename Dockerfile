# Steward in a container: slim Python, a non-root user, the database on a volume.
#   docker build -t steward .
#   docker run -d --name steward --env-file .env -v steward-data:/data steward
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/steward.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --requirement requirements/base.txt \
    && pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app steward \
    && mkdir -p /data && chown steward /data

USER steward
VOLUME ["/data"]
# The web server (webhook mode, or the calendar Mini App with MINIAPP_URL) listens here with
# HTTP_LISTEN=0.0.0.0:8080.
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "--env-file", "/dev/null"]
