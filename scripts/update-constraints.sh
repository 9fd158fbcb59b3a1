#!/usr/bin/env bash
# Resolve pyproject.toml's dependencies afresh (latest versions its ranges allow) in a throw-away venv and
# write them to constraints.txt: the tested set scripts/setup.sh installs. Run the tests after.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
{
    echo "# The tested set of every dependency (runtime and dev), used by scripts/setup.sh and CI: pip install -c constraints.txt ."
    echo "# Regenerate after changing pyproject.toml: scripts/update-constraints.sh"
    "$scratch/venv/bin/python" -m pip freeze --exclude-editable
} > constraints.txt
echo "update-constraints: wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)" >&2
