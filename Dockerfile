# The image the WDL tasks run in (infra/*.wdl, runtime.docker): the project installed with its CLI
# (`cryoet-ingest`), the validation suite (`python -m pytest --dataset …`) and the gather step
# (`python -m data_validation.gather`). Build from the repository root:
#
#   docker build -t ghcr.io/cryoet-ingest/cryoet-ingest:0.1.0 .
#
# Tasks run `bash` in a working directory the engine chooses; nothing here depends on it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/cryoet-ingest

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml or constraints.txt changes.
# The runtime dependencies at the tested versions of constraints.txt.
COPY pyproject.toml constraints.txt README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself. An editable install keeps the repository layout that some paths rely on
# (schema/ for export-schemas, dataset_configs/ for the bundled configs).
COPY conftest.py ./
COPY schema ./schema
COPY dataset_configs ./dataset_configs
COPY importers ./importers
COPY data_validation ./data_validation
RUN pip install --no-deps -e . \
    && cryoet-ingest --help > /dev/null \
    && python -m pytest --help > /dev/null \
    && python -m data_validation.gather --help > /dev/null

# Set but empty: no database unless a task is given one (--db-url, or CRYOET_DATABASE_URL passed in by the
# engine); never an embedded SQLite file inside a throw-away container.
ENV CRYOET_DATABASE_URL=

CMD ["cryoet-ingest", "--help"]
