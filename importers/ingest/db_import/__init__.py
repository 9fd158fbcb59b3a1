"""``cryoet-ingest db-init`` / ``db-import``: a bucket's metadata upserted into the portal database."""
