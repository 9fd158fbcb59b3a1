#!/usr/bin/env bash
# Create .venv and install the project with its development extras, at the tested versions of
# constraints.txt, with the pip a fresh venv brings; re-installs only when pyproject.toml or
# constraints.txt changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$python" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
    echo "setup: installing cryoet-ingest and its ~130 dependencies into .venv (a first install takes 2-3 minutes)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]" >&2
    rm -f .venv/.installed-*
    touch "$stamp"
fi
# An editable install leaves the project's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE is set
# (CI images often set it) every pytest start would compile them again (~0.8 s); compileall writes only
# what changed.
.venv/bin/python -m compileall -q -j 0 importers data_validation >/dev/null
