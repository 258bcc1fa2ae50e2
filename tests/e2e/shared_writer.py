"""Subprocess helper for the shared-index tests (not a test module): the one writer.

    python -m tests.e2e.shared_writer LOCATION [--rows N] [--batches M] [--option KEY=VALUE]...

Opens the Cairn index at LOCATION (a folder, or an `s3://` URI opened with the storage
options) through `IndexStore`, as `cairn index` does, and commits batches forever (or M of
them): batch b is one file, `/team/batch-<b>.md`, of exactly N chunks whose text carries the
word `cairnshared` and the batch's own word `batch<b>`, written in ONE commit (`replace_chunks`),
then its vectors in a second commit (`set_vectors`). After the first commit it prints
`COMMITTED <b> <wall time>` so the reader can time how soon it sees the batch. It continues after
the highest batch already in the index, so a writer started after a SIGKILL carries on.
The egress guard is installed strictly, as in every Cairn entry point.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

BATCH_RE = re.compile(r"/team/batch-(\d+)\.md$")


def batch_path(b: int) -> str:
    return f"/team/batch-{b:05d}.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("location")
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--batches", type=int, default=0, help="0: until killed")
    parser.add_argument("--option", action="append", default=[])
    args = parser.parse_args(argv)

    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard(strict=True)

    from pathlib import Path

    from indexer.records import Chunk
    from indexer.storage.shared_location import is_uri
    from indexer.storage.store import IndexStore
    from models.embedder import FakeEmbedder

    options = dict(opt.split("=", 1) for opt in args.option)
    embedder = FakeEmbedder()
    location = args.location if is_uri(args.location) else Path(args.location)
    store = IndexStore.open(location, embedder.model_id, embedder.dim,
                            storage_options=options or None)
    done = [int(m.group(1)) for r in store.tables.select("chunks", None, columns=["path"])
            if (m := BATCH_RE.search(r["path"]))]
    start = max(done, default=-1) + 1
    print(f"OPEN {start}", flush=True)
    b = start
    while not args.batches or b < start + args.batches:
        chunks = [Chunk(text=f"cairnshared batch{b:05d} row{r} granite lantern meadow {b * r}.",
                        ordinal=r, line_start=r + 1, line_end=r + 1, char_start=100 * r,
                        char_end=100 * r + 60) for r in range(args.rows)]
        pending = store.replace_chunks(batch_path(b), "/team", ".md", chunks, reuse={})
        print(f"COMMITTED {b} {time.time():.6f}", flush=True)
        texts = dict(store.embed_texts(pending))
        ids = [cid for cid in pending if cid in texts]
        store.set_vectors(ids, embedder.embed([texts[cid][1] for cid in ids]))
        b += 1
    store.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
