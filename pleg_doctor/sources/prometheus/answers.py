"""A Prometheus query's answer, decoded: an instant vector's elements a run at a time,
each checked and turned into `(term, labels, value, timestamp)`.

Separate from `source.py` (the API calls, their errors and the fleet's queries) because this is
the client's hot loop: a 10,000-node fleet answers with about half a million series, so the
answer is never decoded whole (`streamed_runs` cuts the compact JSON into runs of a few
thousand elements decoded at C speed) and each element is checked without building an object
per series (`vector_series`). Anything that is not a success vector goes back to the caller,
which decodes it whole and reports the API's error.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

PromSeries = tuple[str, dict[str, str], float, float]
"""One element of an instant vector: its term, labels (tag removed), value and timestamp."""


def vector_series(
    items: list[Any], term_of: Callable[[dict[str, str]], str]
) -> list[PromSeries] | None:
    """`{"metric": {...}, "value": [ts, "1.5"]}` elements → `(term, labels, value, ts)`; None
    when any element has another shape (an object whose `metric` is an object of strings and
    whose `value` is a pair of numbers).

    A fleet's answers hold about 50 series per node, so this runs tens of thousands of times:
    the decoded `metric` object becomes the labels as it is (no copy), and the label values are
    checked by joining them (`str.join` refuses anything but strings) rather than one by one.
    """
    series: list[PromSeries] = []
    append = series.append
    join = "".join
    for item in items:
        if type(item) is not dict:
            return None
        metric = item.get("metric")
        value = item.get("value")
        if type(metric) is not dict or type(value) is not list:
            return None
        try:
            at, text = value  # exactly two, or ValueError
            join(metric.values())
            number = float(text)
            timestamp = float(at)
        except (TypeError, ValueError):
            return None
        append((term_of(metric), metric, number, timestamp))
    return series


_SUCCESS_VECTOR_RE = re.compile(
    r'\A\s*\{\s*"status"\s*:\s*"success"\s*,\s*"data"\s*:\s*\{\s*"resultType"\s*:\s*"vector"'
    r'\s*,\s*"result"\s*:\s*\['
)
_DECODER = json.JSONDecoder()
_BOUNDARY = '},{"metric":'
CHUNK_CHARS = 256 * 1024
"""Characters of an answer decoded at once: a few thousand series, whatever the answer's size."""


def streamed_vector(body: bytes) -> tuple[Iterator[Any], Callable[[], Any]] | None:
    """A success answer's vector elements, decoded one at a time, and then its warnings
    (`streamed_runs`, one element at a time)."""
    streamed = streamed_runs(body)
    if streamed is None:
        return None
    runs, warnings = streamed
    return itertools.chain.from_iterable(runs), warnings


def streamed_runs(body: bytes) -> tuple[Iterator[list[Any]], Callable[[], Any]] | None:
    """A success answer's vector elements, decoded a run at a time, and then its warnings.

    Prometheus (and Thanos, Mimir, VictoriaMetrics) write `{"status":"success","data":
    {"resultType":"vector","result":[...]}...}`: the elements are decoded run by run from the
    text (about `CHUNK_CHARS` at a time), so at most a run is held decoded beside the
    assembler's compact data. None for any other shape: the caller decodes the document whole
    (and reports errors from it).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    start = _SUCCESS_VECTOR_RE.match(text)
    if start is None:
        return None
    tail: list[str] = []

    def runs() -> Iterator[list[Any]]:
        at = _skip_space(text, start.end())
        if text.startswith("]", at):
            tail.append(text[at + 1 :])
            return
        # Compact JSON (Prometheus writes no whitespace): whole runs of elements decoded at C
        # speed, cut where one element ends and the next begins. `},{"metric":` cannot occur
        # inside a label value (its quotes would be escaped), so each cut is a boundary.
        while True:
            cut = text.find(_BOUNDARY, at + CHUNK_CHARS)
            if cut == -1:
                break
            yield json.loads(f"[{text[at : cut + 1]}]")
            at = cut + 2
        decode = _DECODER.raw_decode
        last: list[Any] = []
        while True:
            item, at = decode(text, at)
            last.append(item)
            at = _skip_space(text, at)
            if text.startswith(",", at):
                at = _skip_space(text, at + 1)
            elif text.startswith("]", at):
                tail.append(text[at + 1 :])
                yield last
                return
            else:
                raise ValueError(f"expected , or ] at {at}")

    def warnings() -> Any:
        rest = tail[0] if tail else ""
        found = re.search(r'"warnings"\s*:\s*', rest)
        if found is None:
            return None
        try:
            return _DECODER.raw_decode(rest, found.end())[0]
        except ValueError:
            return None

    return runs(), warnings


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at
