#!/usr/bin/env bash
# The whole suite on PostgreSQL, Redis, real Celery workers and chromium.
# A run that collects no test fails: pytest's exit code 5 is not success.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p var test-artifacts
.venv/bin/pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
