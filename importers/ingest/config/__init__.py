"""Ingestion config: loading, schema validation and migration (shared/spec/config.md)."""

from importers.ingest.config.loader import ConfigError, load_config

__all__ = ["ConfigError", "load_config"]
