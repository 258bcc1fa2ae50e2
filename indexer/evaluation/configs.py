"""What `cairn eval run --compare` varies: the configurations one evaluation runs side by side.

`--compare` runs several configurations in one process, one after the other on the same index,
so ratios are comparable on a noisy machine. A configuration is a retrieval mode or chat model
plus setting overrides; settings that change the index itself cannot be compared in one index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.errors import UserInputError

if TYPE_CHECKING:
    from indexer.config import Settings

GOLDEN_FILE = "golden_questions.jsonl"


def default_questions(settings: Settings) -> Path:
    """The user's golden questions, in the Cairn home."""
    return settings.home / GOLDEN_FILE


# Settings a comparison cannot vary: what is indexed (one index cannot hold two of them, and
# flipping one mid-comparison would rebuild the user's index) and the network permission.
FIXED_KEYS = frozenset({"home", "folders", "include_globs", "exclude_globs", "max_file_mb",
                        "follow_symlinks", "allow_network"})


@dataclass(frozen=True)
class RunConfig:
    """One `--compare` entry: a retrieval mode or chat model, and setting overrides.

    "hybrid fusion_k=5 bm25_weight=2" is hybrid search with those fusion settings;
    "context_passages=6" is the default model given six passages.
    """

    label: str = ""
    target: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)


def parse_compare(spec: str | None) -> list[RunConfig]:
    """Comma-separated configurations; within one, `key=value` tokens override settings."""
    from indexer.config import REINDEX_KEYS, Settings

    if not spec:
        return [RunConfig()]
    configs: list[RunConfig] = []
    for item in spec.split(","):
        tokens = item.split()
        if not tokens:
            raise UserInputError("An empty configuration in --compare.",
                                 hint='Example: --compare "hybrid,hybrid fusion_k=5"')
        target: str | None = None
        overrides: dict[str, str] = {}
        for token in tokens:
            key, eq, value = token.partition("=")
            if not eq:
                if target is not None:
                    raise UserInputError(f"Two modes or models in one configuration: {item!r}.",
                                         hint="Separate configurations with commas.")
                target = token
            elif key in REINDEX_KEYS or key in FIXED_KEYS:
                raise UserInputError(
                    f"{key} changes the index itself or what Cairn may do; one index cannot "
                    "compare its values.",
                    hint="Index into two Cairn homes and run `cairn eval run` in each "
                         "(CAIRN_HOME=/tmp/a cairn eval run ... --folder DOCS).")
            elif key not in Settings.model_fields:
                raise UserInputError(
                    f"Unknown setting {key!r} in --compare.",
                    hint="Setting names are the settings.json keys (README, Configuration).")
            else:
                overrides[key] = value
        configs.append(RunConfig(" ".join(tokens), target, overrides))
    return configs
