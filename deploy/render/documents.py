"""Pure: manifests → YAML text, keys sorted, one file per object or one multi-document stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

HEADER = ("# Rendered by `python -m deploy {environment} render --target kubernetes` from "
          "shipyard.toml;\n# render again rather than edit (the output is stable: same "
          "input, same bytes).\n")  # fmt: skip


class Dumper(yaml.SafeDumper):
    """Safe YAML without anchors: an object shared twice is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def file_name(manifest: dict[str, Any]) -> str:
    """`deployment.yaml`, `service.yaml`, `poddisruptionbudget.yaml`: one object a file."""
    return f"{str(manifest['kind']).lower()}.yaml"


def document(manifest: dict[str, Any]) -> str:
    """One object as block YAML with sorted keys (the same input gives the same bytes)."""
    return yaml.dump(manifest, Dumper=Dumper, sort_keys=True, default_flow_style=False, width=100)


def files(environment: str, manifests: Sequence[dict[str, Any]]) -> dict[str, str]:
    """File name → text, each file one object after the header."""
    header = HEADER.format(environment=environment)
    return {file_name(manifest): header + document(manifest) for manifest in manifests}


def stream(environment: str, manifests: Sequence[dict[str, Any]]) -> str:
    """Every object in one multi-document YAML stream (`kubectl apply -f -` reads it)."""
    header = HEADER.format(environment=environment)
    return header + "".join(f"---\n{document(manifest)}" for manifest in manifests)
