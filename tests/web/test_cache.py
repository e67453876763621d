"""The cache of live analysis views: one computation per view however many ask at once."""

from __future__ import annotations

import threading
import time

from sci_evidence.web.analysis import AnalysisCache


def test_concurrent_requests_for_one_view_compute_it_once():
    cache = AnalysisCache(size=4)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.2)
        return "view"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["view"] * 8 and len(calls) == 1


def test_least_recently_used_view_is_dropped_and_failures_are_not_cached():
    cache = AnalysisCache(size=2)
    for k in "abc":
        cache.get_or_compute(k, lambda k=k: k.upper())
    assert cache.get("a") is None and cache.get("c") == "C"

    def boom():
        raise RuntimeError("no")

    try:
        cache.get_or_compute("x", boom)
    except RuntimeError:
        pass
    assert cache.get("x") is None
    assert cache.get_or_compute("x", lambda: "ok") == "ok"
