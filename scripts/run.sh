#!/usr/bin/env bash
# `make run`: migrate, seed the demo, then web + worker + beat + demo traffic under honcho.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
if [ -n "${REDIS_URL:-}" ] && [ -z "${CELERY_BROKER_URL:-}" ]; then export CELERY_BROKER_URL="$REDIS_URL"; fi
mkdir -p var/broker/out var/broker/processed
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py createcachetable
key=$(.venv/bin/python manage.py seed_demo 2>/dev/null | tail -n1)
port=${PORT:-8000}
# honcho hands every process its own PORT, so the web port travels under another name.
export WEB_PORT=$port
db="SQLite (var/shadowstage.sqlite3)"; [ -n "${DATABASE_URL:-}" ] && db="$DATABASE_URL"
broker="embedded (var/broker)"; [ -n "${CELERY_BROKER_URL:-}" ] && broker="$CELERY_BROKER_URL"
cat <<MSG

  Shadowstage is starting on http://127.0.0.1:${port}/
  Log in as operator, reviewer or viewer (admin for /admin/) with password: ${DEMO_PASSWORD:-demo}
  Demo API key (also in var/demo_api_key): ${key}
  Database: ${db}   Broker: ${broker}
  Try:  curl -X POST http://127.0.0.1:${port}/api/v1/interactions -H "Authorization: Bearer ${key}" \\
          -H 'Content-Type: application/json' -d @docs/example-batch.json

MSG
exec .venv/bin/honcho start -f Procfile
