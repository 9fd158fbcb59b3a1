"""The ingestion app: configs, the entity tree, ``standardize``, ``sample``, ``sync`` and ``db-import``.

Built on the core (``importers/`` outside this package), which never imports it. Nothing is imported here:
the source-check pytest plugin (``preflight``) is loaded at every pytest start-up.
"""
