"""Plain LanceDB top-k, the pipeline AnythingLLM (and Reor) run: fixed-size character chunks,
one embedding per chunk, vector search only, the top k chunks pasted into the prompt.

AnythingLLM's settings, with the file each comes from (github.com/Mintplex-Labs/anything-llm):
- Chunking: LangChain's `RecursiveCharacterTextSplitter` with chunkSize 1,000 characters and
  chunkOverlap 20 unless the user changes them — `server/utils/TextSplitter/index.js`
  (`#setSplitter`). LanceDB itself does no chunking. `split_text` below ports that splitter's
  algorithm (separators "\\n\\n", "\\n", " ", "", not kept: split on the first that occurs,
  merge pieces up to the size with the overlap carried over, recurse into pieces too long).
- Search: `table.search(vector).distanceType("cosine").limit(topN)` —
  `server/utils/vectorDbProviders/lance/index.js`; a workspace's topN defaults to 4.
- Prompt: the workspace system prompt, then each chunk as `[CONTEXT i]:\\n…\\n[END CONTEXT i]`,
  then the question; temperature 0.7 (the workspace default); every retrieved chunk is shown
  as a source (there are no `[n]` markers), so its sources are what it "cites".
- Embedding: AnythingLLM's built-in embedder is all-MiniLM-L6-v2 too (in ONNX); here the very
  file Cairn uses, through fastembed's stock `TextEmbedding.embed` (its default batching).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from peers_common import PeerAnswer, PeerHit, answer_from_text, hit, register_fastembed

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 20  # server/utils/TextSplitter/index.js defaults
TOP_N = 4  # workspace default topN
TEMPERATURE = 0.7  # workspace default openAiTemp
SYSTEM_PROMPT = (  # AnythingLLM's default workspace chat prompt
    "Given the following conversation, relevant context, and a follow up question, reply with "
    "an answer to the current question the user is asking. Return only your response to the "
    "question given the above information following the users instructions as needed."
)
SEPARATORS = ("\n\n", "\n", " ", "")


def _merge(pieces: Sequence[str], sep: str, size: int, overlap: int) -> list[str]:
    """Join pieces up to `size` characters; a new chunk starts with up to `overlap`
    characters' worth of the previous chunk's last pieces."""
    chunks: list[str] = []
    current: list[str] = []
    total = 0
    for piece in pieces:
        extra = len(piece) + (len(sep) if current else 0)
        if current and total + extra > size:
            chunks.append(sep.join(current).strip())
            while current and (total > overlap or total + extra > size):
                total -= len(current[0]) + (len(sep) if len(current) > 1 else 0)
                current.pop(0)
        current.append(piece)
        total = len(sep.join(current))
    if current:
        chunks.append(sep.join(current).strip())
    return [c for c in chunks if c]


def split_text(text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP,
               separators: Sequence[str] = SEPARATORS) -> list[str]:
    """LangChain's recursive character splitting (see the module docstring)."""
    sep = next((s for s in separators if s == "" or s in text), "")
    rest = separators[separators.index(sep) + 1:] if sep else ()
    pieces = text.split(sep) if sep else list(text)
    out: list[str] = []
    good: list[str] = []
    for piece in pieces:
        if len(piece) <= size:
            good.append(piece)
            continue
        if good:
            out += _merge(good, sep, size, overlap)
            good = []
        out += split_text(piece, size, overlap, rest) if rest else [piece]
    if good:
        out += _merge(good, sep, size, overlap)
    return out


class LanceDBPeer:
    """Chunk, embed and store every file; search by vector; answer AnythingLLM-style."""

    def __init__(self, files: Sequence[Path], embedder_dir: str, store_dir: Path) -> None:
        import lancedb
        from fastembed import TextEmbedding

        self.model = TextEmbedding(model_name=register_fastembed(embedder_dir),
                                   specific_model_path=embedder_dir, cache_dir=embedder_dir)
        rows: list[dict[str, Any]] = []
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            rows += [{"text": c, "path": str(path)} for c in split_text(text)]
        vectors = list(self.model.embed([r["text"] for r in rows]))
        for row, vector in zip(rows, vectors, strict=True):
            row["vector"] = vector.tolist()
        db = lancedb.connect(str(store_dir))
        self.table = db.create_table("vectors", data=rows, mode="overwrite")
        self.chunks = len(rows)
        self.llm: Any = None

    def search(self, question: str, k: int) -> list[PeerHit]:
        vector = next(iter(self.model.query_embed(question)))
        rows = self.table.search(vector.tolist()).distance_type("cosine").limit(k).to_list()
        return [hit(r["path"], r["text"]) for r in rows]

    def load_llm(self, gguf: str) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=gguf, n_ctx=4096, verbose=False, seed=7)
        self.gguf = gguf

    def ask(self, question: str) -> PeerAnswer:
        t0 = time.perf_counter()
        hits = self.search(question, TOP_N)
        context = "".join(f"[CONTEXT {i}]:\n{h.text}\n[END CONTEXT {i}]\n\n"
                          for i, h in enumerate(hits))
        messages = [{"role": "system", "content": f"{SYSTEM_PROMPT}\nContext:\n{context}"},
                    {"role": "user", "content": question}]
        first: float | None = None
        pieces: list[str] = []
        for part in self.llm.create_chat_completion(messages=messages, temperature=TEMPERATURE,
                                                    stream=True):
            piece = part["choices"][0]["delta"].get("content") or ""
            if first is None and piece.strip():
                first = time.perf_counter() - t0
            pieces.append(piece)
        stats = {"model": Path(self.gguf).stem, "ttft_s": first,
                 "generate_s": time.perf_counter() - t0}
        return answer_from_text("".join(pieces).strip(), question,
                                [h.anchor.path for h in hits], stats)
