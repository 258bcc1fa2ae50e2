"""Storage: the LanceDB index and what reads it fast.

`store` (the one `IndexStore`: files and chunks, schema version, rebuild on a model change),
its tables and maintenance (`store_tables`), their layout and row types (`store_layout`), the
exact in-memory vector index (`vector_index`) and escaped filters built from paths
(`search_filter`). Storage imports neither `ingest` nor `answer`; both build on it.
"""
