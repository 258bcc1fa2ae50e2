"""The store's process-wide memory settings: the malloc arena cap (see `indexer.storage.store_tables`).

Why: with queues and caches bounded, glibc keeping freed memory in one arena per LanceDB thread
was most of what was left of a bulk run's RSS growth (bench/bench_scale.py: peak 702 -> 500 MB
at 30k chunks with 2 arenas). The cap must be set before LanceDB's threads exist, so it is
applied when a store opens, and it must never override a user's own `MALLOC_ARENA_MAX`. RSS is
not asserted here (the bench measures it); the tests pin when the cap is applied.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

import indexer.storage.store_tables as st
from indexer.storage.store import IndexStore

glibc_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


@glibc_linux
def test_arena_cap_is_applied_through_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    calls: list[tuple[int, int]] = []

    class FakeMallopt:
        argtypes: object = None

        def __call__(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    class FakeLibc:
        mallopt = FakeMallopt()

    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())
    assert st.limit_malloc_arenas() is True
    assert calls == [(-8, st.MALLOC_ARENAS)]  # M_ARENA_MAX in glibc's malloc.h


def test_a_users_malloc_arena_max_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: pytest.fail("mallopt must not be called"))
    assert st.limit_malloc_arenas() is False


def test_opening_a_store_caps_arenas_before_lancedb_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_connect = st.lancedb.connect
    monkeypatch.setattr(st, "limit_malloc_arenas", lambda: order.append("cap") or True)

    def connect(*args: object, **kwargs: object) -> object:
        order.append("connect")
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(st.lancedb, "connect", connect)
    store = IndexStore.open(tmp_path / "index", "fake", 8)
    try:
        assert order and order[0] == "cap" and "connect" in order
    finally:
        store.close()
