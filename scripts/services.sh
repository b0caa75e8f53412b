#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1; start them if installed but down.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    echo "PostgreSQL is down; starting it" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  pg_up || {
    echo "PostgreSQL is not reachable on 127.0.0.1:5432. Install it (apt-get install -y postgresql)" >&2
    echo "or point DATABASE_URL at a server (trust auth for user postgres)." >&2
    exit 1
  }
fi

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Redis is down; starting it" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  fi
  redis_up || {
    echo "Redis is not reachable on 127.0.0.1:6379. Install it (apt-get install -y redis-server)" >&2
    echo "or set REDIS_URL." >&2
    exit 1
  }
fi
echo "PostgreSQL and Redis are up" >&2
