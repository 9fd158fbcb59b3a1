"""What the portal's metadata documents are and how they must read, shared by ingestion and validation.

``models``: the documents' pydantic models; ``patterns``: the id and text patterns they and the checks use;
``rules``: content rules on one document; ``identity``: what makes two documents the same entity and names
annotation files; ``computed``: the computed content the importer writes and the checks recompute.
"""
