"""The rendered manifests against the official Kubernetes JSON schemas, offline
(`kubernetes-validate` bundles them), for the two newest minor versions it carries, strict
(an unknown field is an error); and broken manifests are rejected, so the check can fail."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor

from deploy.render.kubernetes import KubernetesSettings, kubernetes_manifests
from shipyard.declaration import Declaration, parse_declaration

VERSIONS = sorted({major_minor(version) for version in all_versions()},
                  key=lambda v: tuple(map(int, v.split("."))))[-2:]  # fmt: skip
IMAGE = "ghcr.io/acout/api@sha256:" + "0123456789abcdef" * 4
DECLARATIONS = {
    "demo": Declaration(),
    "custom": parse_declaration('name = "web"\nport = 8080\n[health]\npath = "/healthz"\n'),
}
Manifest = dict[str, Any]


def manifests(declaration: str = "demo", replicas: int = 2) -> list[Manifest]:
    settings = KubernetesSettings("production", IMAGE, replicas)
    return list(kubernetes_manifests(DECLARATIONS[declaration], settings).objects)


def validate(manifest: Manifest, version: str) -> str:
    return str(kubernetes_validate.validate(manifest, version, strict=True))


def test_two_current_minor_versions_are_checked() -> None:
    assert len(VERSIONS) == 2
    assert tuple(map(int, VERSIONS[0].split("."))) >= (1, 36), VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("declaration", "replicas"), [("demo", 2), ("custom", 1)])
def test_every_manifest_is_valid(version: str, declaration: str, replicas: int) -> None:
    rendered = manifests(declaration, replicas)
    assert [m["kind"] for m in rendered] == ["Deployment", "Service", "PodDisruptionBudget"]
    for manifest in rendered:
        assert validate(manifest, version) == version  # that version's own schema was used


BREAKS: dict[str, tuple[int, Callable[[Manifest], None]]] = {
    # (which object: 0 Deployment, 1 Service, 2 PDB) and how it is broken
    "a misspelt field": (0, lambda m: m["spec"]["strategy"]["rollingUpdate"].update(
        maxUnavaliable=0)),
    "replicas as text": (0, lambda m: m["spec"].update(replicas="two")),
    "no selector": (0, lambda m: m["spec"].pop("selector")),
    "a container without its name": (0, lambda m: m["spec"]["template"]["spec"][
        "containers"][0].pop("name")),
    "a probe port as a list": (0, lambda m: m["spec"]["template"]["spec"]["containers"][0][
        "readinessProbe"]["httpGet"].update(port=[8000])),
    "capabilities as a string": (0, lambda m: m["spec"]["template"]["spec"]["containers"][0][
        "securityContext"].update(capabilities="ALL")),
    "a service port without its number": (1, lambda m: m["spec"]["ports"][0].pop("port")),
    "a budget field that does not exist": (2, lambda m: m["spec"].update(minUnavailable=1)),
}  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("broken", list(BREAKS))
def test_a_broken_manifest_is_rejected(version: str, broken: str) -> None:
    index, breaks = BREAKS[broken]
    manifest = copy.deepcopy(manifests()[index])
    validate(manifest, version)  # valid before the break
    breaks(manifest)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(manifest, version)
