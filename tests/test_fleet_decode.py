"""How fleet mode reads an answer: one series at a time, never the whole document decoded.

`answers.streamed_vector` must give exactly what `json.loads` gives, for Prometheus' compact
JSON (cut into runs at element boundaries) and for any other spacing, label values that look
like boundaries included, and the warnings after the result; anything else is left to the
whole-document decoder (None).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pleg_doctor.sources.prometheus import answers
from pleg_doctor.sources.prometheus.answers import streamed_vector


def _answer(count: int, *, tricky: bool = False) -> dict[str, Any]:
    result = []
    for index in range(count):
        metric = {"instance": f"10.0.{index // 250}.{index % 250}:10250", "pleg_doctor_q": "x"}
        if tricky and index % 7 == 0:
            metric["odd"] = 'a},{"metric":{"instance":"evil"}},{\\"x\\": "]'
        result.append({"metric": metric, "value": [1790000000.5, str(index * 0.25)]})
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _decode(body: bytes) -> tuple[list[Any], Any]:
    streamed = streamed_vector(body)
    assert streamed is not None
    items, warnings = streamed
    return list(items), warnings()


@pytest.mark.parametrize("spacing", [(",", ":"), (", ", ": ")], ids=["compact", "spaced"])
@pytest.mark.parametrize("count", [0, 1, 3, 5000])
def test_every_element_as_json_loads_gives_it(spacing, count, monkeypatch):
    monkeypatch.setattr(answers, "CHUNK_CHARS", 1000)  # many runs even for a small answer
    doc = _answer(count, tricky=True)
    doc["warnings"] = ["partial response: store gateway down"]
    body = json.dumps(doc, separators=spacing).encode()
    items, warnings = _decode(body)
    assert items == doc["data"]["result"]
    assert warnings == doc["warnings"]


def test_other_shapes_are_left_to_the_whole_document_decoder():
    for doc in (
        {"status": "error", "errorType": "bad_data", "error": "parse error"},
        {"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}},
        {"data": {"resultType": "vector", "result": []}, "status": "success"},
    ):
        assert streamed_vector(json.dumps(doc).encode()) is None
    assert streamed_vector(b"<html>login</html>") is None
    assert streamed_vector(b"\xff\xfe") is None


def test_a_cut_off_answer_is_an_error_not_fewer_series(monkeypatch):
    monkeypatch.setattr(answers, "CHUNK_CHARS", 100)
    body = json.dumps(_answer(50), separators=(",", ":")).encode()
    streamed = streamed_vector(body[: len(body) // 2])
    assert streamed is not None
    items, _ = streamed
    with pytest.raises(json.JSONDecodeError):
        list(items)
