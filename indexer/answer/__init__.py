"""Answer: from a question to an `Answer` with citations.

Hybrid retrieval and its fusion (`retrieval`), passage selection (`passages`), the answerer
with its prompt and grounding checks (`answering`), `[n]` markers mapped to citations
(`citations`), the answer cache (`answer_cache`) and the saved traces (`traces`). Answer never
imports `ingest`.
"""
