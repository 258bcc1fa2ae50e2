"""Synthetic data and measuring helpers of bench/bench_scaling.py (kept apart so each file
stays readable): a seeded Gaussian mixture of unit vectors that behaves like sentence embeddings,
exact top-k by blockwise matmul (the recall reference), a peak-RSS sampler, small statistics."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import psutil


# ----------------------------------------------------------------------------- data
class Mixture:
    """A seeded Gaussian mixture on the unit sphere that looks more like text embeddings than
    uniform noise does (see the module doc). `draw(n, rng)` returns (n, dim) float32 unit rows;
    `wider` scales the clusters' spread (for queries)."""

    def __init__(self, dim: int, clusters: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        # A random rotation, so the decaying noise spectrum is not axis-aligned.
        self.rot = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
        mean = rng.standard_normal(dim).astype(np.float32)
        mean /= np.linalg.norm(mean)
        centres = rng.standard_normal((clusters, dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        # Topics share a common direction (anisotropy): mean cosine between centres ~0.2.
        centres = centres + 0.5 * mean
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        w = rng.lognormal(0.0, 1.0, clusters)  # uneven topic sizes
        self.weights = w / w.sum()
        self.spread = rng.lognormal(np.log(0.7), 0.3, clusters).astype(np.float32)
        scale = (np.arange(1, dim + 1, dtype=np.float32)) ** -0.4  # decaying spectrum
        self.scale = scale * np.sqrt(dim / np.sum(scale**2))  # total variance = dim

    def draw(self, n: int, rng: np.random.Generator, wider: float = 1.0) -> np.ndarray:
        which = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.dim), dtype=np.float32) * self.scale
        noise = noise @ self.rot
        x = self.centres[which] + noise * (wider * self.spread[which, None] / np.sqrt(self.dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32, copy=False)


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k row ids and cosines of unit `queries` over unit `data` (blockwise matmul)."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    block = 100_000
    for lo in range(0, len(data), block):
        s = queries @ data[lo : lo + block].T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + lo], axis=1)
        top = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(cand_s, top, 1)
        best_i = np.take_along_axis(cand_i, top, 1)
    return best_i, best_s


# ----------------------------------------------------------------------------- measuring
class RssSampler:
    """Peak RSS of this process per named phase, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            mb = self.proc.memory_info().rss / 2**20
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), mb)
            time.sleep(0.02)

    def enter(self, phase: str) -> None:
        self.phase = phase
        mb = self.proc.memory_info().rss / 2**20
        self.peaks[phase] = max(self.peaks.get(phase, 0.0), mb)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._t.join()
        return {k: round(v, 1) for k, v in self.peaks.items()}


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def pct(xs: list[float], p: float) -> float:
    return round(float(np.percentile(xs, p)), 2) if xs else float("nan")


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system
