"""Ingest: from files on disk to rows in the store.

The watcher and the scanner notice changes (`watcher`, `scanner`, `file_filter`), the change
queue coalesces them (`changes`), and the pipeline's writer thread parses (`parsing/`), chunks
(`chunking`) and writes them, with vectors computed on the embedder thread (`pipeline*`).
`file_state` builds the rows a file's stage is recorded in. Ingest never imports `answer`.
"""
