"""Repository-root conftest.

The validation plugin (``data_validation.plugin``: ``--dataset``, ``--bucket``, …) and the ingestion app's
source plugin (``importers.ingest.preflight``: ``--ingestion-config``, ``--input-bucket``, …) are registered
through the ``pytest11`` entry points in pyproject.toml rather than here, because options that only a
conftest defines are not known when pytest parses the command line and picks its rootdir.
``pytest --dataset 10001`` from this directory collects the validation suite (``testpaths``);
the project's own tests run with ``pytest tests``.
"""
