#!/usr/bin/env bash
# The main job on the embedded default: build the sample dataset, standardize it into a local
# bucket folder, and validate it with `pytest --dataset 10001`. Everything lands in .local/.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
echo "quickstart: install (first run only: ~130 packages, 2-3 minutes), then 4 steps into .local/ (~40 s);"
echo "            a first run takes about 5 minutes in all, later runs about 40 s"
scripts/setup.sh
workspace=$PWD/.local
rm -rf "$workspace/source" "$workspace/reports"
mkdir -p "$workspace/reports"
echo "== 1/4 sample: writing the sample source dataset to $workspace/source"
.venv/bin/cryoet-ingest sample "$workspace/source" --runs 2 --size 64
echo "== 2/4 standardize: dataset_configs/10001.yaml -> $workspace/bucket"
.venv/bin/cryoet-ingest standardize dataset_configs/10001.yaml \
    --input "$workspace/source" --output "$workspace/bucket"
echo "== 3/4 db-import: $workspace/bucket -> the embedded database $workspace/cryoet.sqlite"
.venv/bin/cryoet-ingest db-import --bucket "$workspace/bucket" --dataset 10001
echo "== 4/4 validate: pytest --dataset 10001 --bucket file://$workspace/bucket (with the database checks)"
status=0
.venv/bin/pytest --dataset 10001 --bucket "file://$workspace/bucket" -n auto -q \
    --junitxml "$workspace/reports/validation.xml" --alluredir "$workspace/reports/allure-results" || status=$?
echo
echo "Standardized bucket:  $workspace/bucket"
echo "Database:             $workspace/cryoet.sqlite (SQLite; pass --db-url for PostgreSQL)"
echo "Validation results:   $workspace/reports/validation.xml (JUnit XML)"
echo "                      $workspace/reports/allure-results (Allure results)"
echo "quickstart: done in $((SECONDS - started)) s"
exit $status
