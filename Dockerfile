# The bot's image: python:3.11-slim, an unprivileged user, compiled catalogs.
#   docker build -t community-bot .
#   docker run --env-file .env community-bot                      # a webhook worker
#   docker run --env-file .env community-bot python -m bot scheduler
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# a CJK font, so chart images sent in chat can show Chinese labels (handlers/views/chart.py finds it)
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/bot bot

WORKDIR /app
# the dependencies first, exactly as locked (every file checked against its hash; `make lock`
# refreshes the lock), then the project itself without resolving anything more
COPY requirements-pip.lock requirements.lock ./
RUN pip install --require-hashes --no-deps --only-binary :all: -r requirements-pip.lock \
    && pip install --require-hashes --no-deps -r requirements.lock
# the code runs from /app (alembic.ini, migrations/ and locales/ are found beside bot/)
COPY pyproject.toml README.md alembic.ini babel.cfg ./
COPY bot ./bot
COPY handlers ./handlers
COPY services ./services
COPY models ./models
COPY migrations ./migrations
COPY locales ./locales
RUN pip install --no-deps --no-build-isolation -e . \
    && pybabel compile --use-fuzzy -d locales -D messages \
    && mkdir -p /app/data \
    && chown bot:bot /app/data

USER bot
EXPOSE 8080
# /healthz: the process is up (compose checks /readyz for workers and the scheduler)
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEBHOOK_PORT', '8080'), timeout=3)"]
CMD ["python", "-m", "bot", "run", "--webhook"]
