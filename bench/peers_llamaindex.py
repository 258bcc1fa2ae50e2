"""LlamaIndex configured the way PrivateGPT configures it, with Cairn's model files.

PrivateGPT v0.6.2 (github.com/zylon-ai/private-gpt, tag v0.6.2) is the reference; each setting
names the file it comes from:

- Node parser: `SentenceWindowNodeParser.from_defaults()` (one node per sentence, the 3
  sentences either side kept as "window" metadata) —
  `private_gpt/server/ingest/ingest_service.py`. Its `SentenceSplitter` is LlamaIndex's
  default elsewhere, but PrivateGPT replaces it with this parser.
- Ingestion: `VectorStoreIndex.from_documents(..., store_nodes_override=True,
  transformations=[node_parser, embed_model])` (the "simple" ingest mode of
  `settings.yaml` `embedding.ingest_mode`, `private_gpt/components/ingest/ingest_component.py`).
  PrivateGPT's default vector store is Qdrant (`settings.yaml` `vectorstore.database`); here it
  is LlamaIndex's LanceDB store (`llama-index-vector-stores-lancedb`), Cairn's own store, so the
  storage engine is not what differs.
- Retrieval: `VectorIndexRetriever(similarity_top_k=rag.similarity_top_k)`, default 2
  (`settings.yaml` `rag:`), then `MetadataReplacementPostProcessor(target_metadata_key="window")`
  and `SimilarityPostprocessor(similarity_cutoff=rag.similarity_value)` (unset by default, so a
  no-op) — `private_gpt/server/chat/chat_service.py` `_chat_engine`. Retrieval metrics ask
  for top 10 (as `cairn eval` does); answers use PrivateGPT's 2.
- LLM: `LlamaCPP(temperature=0.1, max_new_tokens=512, context_window=3900,
  model_kwargs={tfs_z, top_k, top_p, repeat_penalty, n_gpu_layers: -1, offload_kqv})` with the
  prompt style of the model (`chatml` for Qwen) — `settings.yaml` `llm:`/`llamacpp:`,
  `private_gpt/components/llm/llm_component.py`, `prompt_helper.py`. The system prompt is
  `ui.default_query_system_prompt` (`settings.yaml`), the one PrivateGPT uses with context.
- Embeddings: PrivateGPT's `huggingface` mode loads a sentence-transformers model; here the
  same MiniLM ONNX file Cairn uses, through LlamaIndex's `FastEmbedEmbedding`
  (`llama-index-embeddings-fastembed`) with its defaults (embed_batch_size 10).
- Answers: LlamaIndex's `CitationQueryEngine.from_args` with its defaults (compact response
  synthesis, citation chunks of 512 tokens, "Source n:" numbering, `[n]` markers), streaming.
  PrivateGPT's chat engine lists every retrieved node as a source; the citation engine is the
  LlamaIndex way to get `[n]` citations a reader can check, which is what Cairn is scored on.
- Second row: LlamaIndex's BM25 retriever fused with the vector retriever by its
  `QueryFusionRetriever(num_queries=1, mode="reciprocal_rerank", use_async=True)`, as the
  LlamaIndex BM25 retriever guide shows ("Hybrid Retriever with BM25 + Chroma",
  developers.llamaindex.ai/python/framework/integrations/retrievers/bm25_retriever/);
  num_queries=1 turns off LLM query generation. PrivateGPT itself has no keyword search.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from peers_common import PeerAnswer, PeerHit, answer_from_text, cited_numbers, hit

QUERY_SYSTEM_PROMPT = (  # settings.yaml ui.default_query_system_prompt (PrivateGPT v0.6.2)
    "You can only answer questions about the provided context. If you know the answer but it "
    "is not based in the provided context, don't provide the answer, just state the answer is "
    "not in the context provided."
)
SIMILARITY_TOP_K = 2  # settings.yaml rag.similarity_top_k


def chatml(messages: Sequence[Any]) -> str:
    """ChatML, the template of the Qwen GGUFs (PrivateGPT's `prompt_style: chatml`)."""
    parts = [f"<|im_start|>{m.role.value}\n{(m.content or '').strip()}<|im_end|>\n"
             for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


def chatml_completion(completion: str) -> str:
    from llama_index.core.llms import ChatMessage

    return chatml([ChatMessage(role="user", content=completion)])


class LlamaIndexPeer:
    """Build once, then search (vector or fused) and answer with the same index."""

    def __init__(self, files: Sequence[Path], embedder_dir: str, store_dir: Path) -> None:
        from llama_index.core import (
            Settings,
            SimpleDirectoryReader,
            StorageContext,
            VectorStoreIndex,
        )
        from llama_index.core.node_parser import SentenceWindowNodeParser
        from llama_index.embeddings.fastembed import FastEmbedEmbedding
        from llama_index.vector_stores.lancedb import LanceDBVectorStore
        from peers_common import register_fastembed

        Settings.llm = None  # no OpenAI default: a MockLLM until answers set LlamaCPP
        name = register_fastembed(embedder_dir)
        self.embed = FastEmbedEmbedding(model_name=name, specific_model_path=embedder_dir,
                                        cache_dir=embedder_dir)
        Settings.embed_model = self.embed
        documents = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
        parser = SentenceWindowNodeParser.from_defaults()
        store = LanceDBVectorStore(uri=str(store_dir), table_name="vectors", mode="overwrite")
        storage = StorageContext.from_defaults(vector_store=store)
        self.index = VectorStoreIndex.from_documents(
            documents, storage_context=storage, store_nodes_override=True,
            transformations=[parser, self.embed], embed_model=self.embed, show_progress=False)
        self.chunks = len(self.index.docstore.docs)
        self._fusion: dict[int, Any] = {}

    # -- retrieval ---------------------------------------------------------------------------
    def _postprocessors(self) -> list[Any]:
        """PrivateGPT's window replacement. Its SimilarityPostprocessor(similarity_cutoff=None)
        is left out: unset it filters nothing, and LlamaIndex 0.14 no longer accepts None."""
        from llama_index.core.postprocessor import MetadataReplacementPostProcessor

        return [MetadataReplacementPostProcessor(target_metadata_key="window")]

    def vector_retriever(self, k: int) -> Any:
        return self.index.as_retriever(similarity_top_k=k)

    def fusion_retriever(self, k: int) -> Any:
        if k not in self._fusion:
            from llama_index.core.retrievers import QueryFusionRetriever
            from llama_index.retrievers.bm25 import BM25Retriever

            bm25 = BM25Retriever.from_defaults(docstore=self.index.docstore, similarity_top_k=k)
            self._fusion[k] = QueryFusionRetriever(
                [self.vector_retriever(k), bm25], similarity_top_k=k, num_queries=1,
                mode="reciprocal_rerank", use_async=True, llm=None)
        return self._fusion[k]

    def _retrieve(self, retriever: Any, question: str) -> list[Any]:
        from llama_index.core.schema import QueryBundle

        bundle = QueryBundle(question)
        nodes = retriever.retrieve(bundle)
        for post in self._postprocessors():
            nodes = post.postprocess_nodes(nodes, query_bundle=bundle)
        return nodes

    def search(self, question: str, k: int, fused: bool = False) -> list[PeerHit]:
        retriever = self.fusion_retriever(k) if fused else self.vector_retriever(k)
        return [hit(n.node.metadata.get("file_path", ""), n.node.get_content())
                for n in self._retrieve(retriever, question)]

    # -- answers -----------------------------------------------------------------------------
    def load_llm(self, gguf: str) -> None:
        from llama_index.llms.llama_cpp import LlamaCPP

        self.llm = LlamaCPP(
            model_path=gguf, temperature=0.1, max_new_tokens=512, context_window=3900,
            generate_kwargs={}, verbose=False, system_prompt=QUERY_SYSTEM_PROMPT,
            model_kwargs={"tfs_z": 1.0, "top_k": 40, "top_p": 1.0, "repeat_penalty": 1.1,
                          "n_gpu_layers": -1, "offload_kqv": True},
            messages_to_prompt=chatml, completion_to_prompt=chatml_completion)
        self.gguf = gguf

    def ask(self, question: str, fused: bool = False) -> PeerAnswer:
        from llama_index.core.query_engine import CitationQueryEngine

        retriever = (self.fusion_retriever(SIMILARITY_TOP_K) if fused
                     else self.vector_retriever(SIMILARITY_TOP_K))
        engine = CitationQueryEngine.from_args(
            self.index, retriever=retriever, llm=self.llm, streaming=True,
            node_postprocessors=self._postprocessors())
        t0 = time.perf_counter()
        response = engine.query(question)
        first: float | None = None
        pieces: list[str] = []
        for piece in response.response_gen:
            if first is None and piece.strip():
                first = time.perf_counter() - t0
            pieces.append(piece)
        text = "".join(pieces).strip()
        sources = response.source_nodes  # "Source n" is source_nodes[n - 1]
        paths = [sources[n - 1].node.metadata.get("file_path", "")
                 for n in cited_numbers(text) if 0 < n <= len(sources)]
        stats = {"model": Path(self.gguf).stem, "ttft_s": first,
                 "generate_s": time.perf_counter() - t0}
        return answer_from_text(text, question, paths, stats)
