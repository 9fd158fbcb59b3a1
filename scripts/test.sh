#!/usr/bin/env bash
# The project's own tests: lint, then pytest on tests/ against a real moto S3 server and the
# local PostgreSQL server ($CRYOET_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null; then
        echo "test: starting the local PostgreSQL cluster" >&2
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
fi
# Headless Chromium renders the audit's HTML report once; without it that one test skips.
scripts/install-chromium.sh || echo "test: chromium could not be installed; the HTML render test will skip" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest tests -q -n 2 "$@"
