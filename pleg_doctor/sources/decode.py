"""JSON and YAML from outside, decoded within bounds.

`json.loads` recurses per level of nesting: `[[[[...]]]]` 100,000 deep (a Prometheus answer, a
crictl or exec plugin output, a log line) raises `RecursionError`, which no caller expects.
`json_document` makes it the `ValueError` every caller already handles as "not JSON".

`yaml.safe_load` expands aliases: nine nested levels of ten aliases each (the "billion laughs")
build a 10^9-node document from a 1 KB kubeconfig, and its JSON (an exec plugin's
`KUBERNETES_EXEC_INFO`) takes gigabytes. `yaml_document` counts every node a document holds
after alias expansion, and every level of nesting, and refuses past `PLEG_DOCTOR_MAX_YAML_NODES`
or `MAX_YAML_DEPTH` (a kubeconfig is a few hundred nodes, six levels deep).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pleg_doctor.sources.limits import current as current_limits

MAX_YAML_DEPTH = 100
"""Levels of nesting in a YAML document (a kubeconfig's exec extension: a handful)."""


def json_document(data: str | bytes) -> Any:
    """`json.loads(data)`; a `ValueError` for bad JSON, nesting too deep for Python included."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


class YamlTooLarge(Exception):
    """The document expands past the node bound or nests past `MAX_YAML_DEPTH`."""

    def __init__(self, problem: str, *, variable: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.variable = variable
        """The environment variable that raises the bound, when there is one."""


def yaml_document(text: str) -> Any:
    """`yaml.safe_load(text)` within bounds; raises `yaml.YAMLError`, or `YamlTooLarge` past
    the bounds. PyYAML is imported here: `json_document`'s callers (logs, state) never need it."""
    loader = _bounded_loader()(text, max_nodes=current_limits().yaml_nodes)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise YamlTooLarge(f"nests deeper than {MAX_YAML_DEPTH} levels") from None
    finally:
        loader.dispose()


@functools.cache
def _bounded_loader() -> type[Any]:
    """A SafeLoader that sizes each node as composed: an alias costs the size of what it
    repeats, so the count is the expanded document's, found without expanding it."""
    import yaml
    import yaml.nodes

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream: str, *, max_nodes: int) -> None:
            super().__init__(stream)
            self._max_nodes = max_nodes
            self._sizes: dict[int, int] = {}
            self._depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise YamlTooLarge(f"nests deeper than {MAX_YAML_DEPTH} levels")
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            if node is None:
                return None
            size = self._sizes.get(id(node))
            if size is None:
                size = 1 + sum(self._child_sizes(node))
                self._sizes[id(node)] = size
            if size > self._max_nodes:
                raise YamlTooLarge(
                    f"expands to more than {self._max_nodes:,} YAML nodes (an alias counts as "
                    "what it repeats)",
                    variable="PLEG_DOCTOR_MAX_YAML_NODES",
                )
            return node

        def _child_sizes(self, node: Any) -> list[int]:
            if isinstance(node, yaml.nodes.SequenceNode):
                return [self._sizes.get(id(child), 1) for child in node.value]
            if isinstance(node, yaml.nodes.MappingNode):
                return [
                    self._sizes.get(id(key), 1) + self._sizes.get(id(value), 1)
                    for key, value in node.value
                ]
            return []

    return BoundedLoader
