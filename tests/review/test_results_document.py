"""``ReviewResult.to_dict`` (the results.json document) is JSON-safe through and through: the
analyses, made JSON-safe once by ``AnalysisResult.to_dict``, are not walked again, so every
value in them must already be a plain JSON type."""

from __future__ import annotations

import json

from sci_evidence.review.results import jsonable

PLAIN = (dict, list, int, float, bool, type(None))


def _not_plain(v, where="$"):
    """Paths of values that are not exactly a JSON type (numpy scalars, tuples, NaN, ...);
    a str subclass (numpy's str_) is text to the encoder and to jsonable alike."""
    if isinstance(v, str):
        return []
    if type(v) not in PLAIN or (type(v) is float and v != v):
        return [f"{where}: {type(v).__name__}"]
    if type(v) is dict:
        return [p for k, x in v.items() for p in
                ([f"{where}: key {k!r}"] if type(k) is not str else []) + _not_plain(x, f"{where}.{k}")]  # fmt: skip
    if type(v) is list:
        return [p for i, x in enumerate(v) for p in _not_plain(x, f"{where}[{i}]")]
    return []


def test_results_document_is_plain_json_and_jsonable_leaves_it_unchanged(handmade_review):
    doc = handmade_review.to_dict()
    assert doc["analyses"] and doc["not_pooled"] is not None
    assert _not_plain(doc) == []
    assert jsonable(doc) == doc
    text = json.dumps(doc, indent=1, allow_nan=False)
    assert json.loads(text) == doc
    # the keys in their documented order (analyses and not_pooled keep their places)
    assert list(doc)[:6] == ["software_version", "data_hash", "protocol", "run", "analyses",
                             "not_pooled"]  # fmt: skip
