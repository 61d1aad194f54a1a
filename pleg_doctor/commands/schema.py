"""`schema`: the JSON Schema (draft 2020-12) of every document pleg-doctor prints or keeps.

The schemas are package data (`pleg_doctor/schemas/*.json`), the same files the tests validate
every command's `-o json` and `-o yaml` against; docs/output.md says what each field means.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any

import click

from pleg_doctor.commands.options import CONTEXT_SETTINGS
from pleg_doctor.errors import UsageError

SCHEMAS = {
    "v1": "diagnose, check, watch: one node (schema pleg-doctor/v1)",
    "fleet-v1": "fleet: every node, ranked (schema pleg-doctor/v1, with the nodes of v1)",
    "scan-v1": "scan: every node through the API server, ranked (fleet-v1's shape, nodes of v1)",
    "logs-v1": "logs: the PLEG timeline and culprits of a kubelet log",
    "model-v1": "model: a what-if with the reference model",
    "probe-v1": "probe-runtime: crictl inspect timed on every container and sandbox",
    "state-v1": "check --state FILE: the previous run",
}
"""Every schema by name, with what prints it."""

WITH_NODES = frozenset({"fleet-v1", "scan-v1"})
"""The schemas whose `nodes` are `v1` objects (`$ref: v1.json`)."""


def schema_name(text: str) -> str:
    """`v1`, `pleg-doctor/v1`, `logs-v1`, `pleg-doctor/logs-v1`, `fleet` → a name of `SCHEMAS`."""
    name = text.strip().removeprefix("pleg-doctor/")
    if name in SCHEMAS:
        return name
    if f"{name}-v1" in SCHEMAS:
        return f"{name}-v1"
    raise UsageError(f"no schema {text!r}: known are {', '.join(SCHEMAS)}")


def load_schema(name: str) -> dict[str, Any]:
    """The schema `name`, self-contained: `fleet-v1` and `scan-v1` carry `v1` in their `$defs`
    (their nodes' `$ref: v1.json` resolves to it by its `$id`)."""
    text = resources.files("pleg_doctor").joinpath("schemas", f"{name}.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    if name in WITH_NODES:
        schema["$defs"] = {"v1": load_schema("v1")}
    return schema


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False)
def schema(name: str | None) -> None:
    """Print the JSON Schema of a document pleg-doctor prints, or list them.

    Every -o json and -o yaml output has one (draft 2020-12); validate scripts' input with it.
    NAME is v1, fleet-v1, scan-v1, logs-v1, model-v1, probe-v1 or state-v1 (pleg-doctor/v1
    and the like work too).

    \b
    Example:
      pleg-doctor schema
      pleg-doctor schema v1 > pleg-doctor-v1.schema.json
      pleg-doctor schema logs-v1 | jq '.properties | keys'
    """
    if name is None:
        width = max(len(n) for n in SCHEMAS)
        for known, what in SCHEMAS.items():
            sys.stdout.write(f"{known:<{width}}  {what}\n")
        sys.exit(0)
    document = load_schema(schema_name(name))
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.exit(0)
