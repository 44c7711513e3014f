"""The Kubernetes renderer (pure): declaration → fields, the pin rule, the compose hardening
mirrored, stable YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.errors import InvalidInput
from deploy.render import documents
from deploy.render.kubernetes import (
    RUN_AS,
    WRITABLE,
    KubernetesSettings,
    Manifests,
    kubernetes_manifests,
    pinned_image,
)
from shipyard.declaration import Declaration, parse_declaration
from tests.unit.test_dockerfile import DOCKERFILE, NUMERIC_USER, final_stage_user

ROOT = Path(__file__).resolve().parents[3]
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"ghcr.io/acout/api@{DIGEST}"


def render(toml: str = "", environment: str = "staging", image: str = IMAGE,
           replicas: int = 2) -> Manifests:  # fmt: skip
    declaration = parse_declaration(toml) if toml else Declaration()
    return kubernetes_manifests(declaration, KubernetesSettings(environment, image, replicas))


def objects(toml: str = "", **settings: Any) -> dict[str, dict[str, Any]]:
    """kind → object."""
    return {obj["kind"]: obj for obj in render(toml, **settings).objects}


def field(obj: dict[str, Any], path: str) -> Any:
    """`spec.template.spec.containers.0.image` → the value."""
    value: Any = obj
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else value[part]
    return value


POD = "spec.template.spec"
CONTAINER = f"{POD}.containers.0"
CUSTOM = """
name = "web"
port = 8080
[health]
path = "/healthz"
status = [200, 204]
"""


@pytest.mark.parametrize(
    ("toml", "kind", "path", "expected"),
    [
        ("", "Deployment", "metadata.name", "api"),
        ("", "Deployment", f"{CONTAINER}.image", IMAGE),
        ("", "Deployment", f"{CONTAINER}.ports.0.containerPort", 8000),
        ("", "Deployment", f"{CONTAINER}.readinessProbe.httpGet.path", "/health"),
        ("", "Deployment", f"{CONTAINER}.env.0", {"name": "ENVIRONMENT", "value": "staging"}),
        ("", "Service", "spec.ports.0.port", 8000),
        (CUSTOM, "Deployment", "metadata.name", "web"),
        (CUSTOM, "Deployment", f"{CONTAINER}.name", "web"),
        (CUSTOM, "Deployment", f"{CONTAINER}.ports.0.containerPort", 8080),
        (CUSTOM, "Deployment", f"{CONTAINER}.readinessProbe.httpGet.path", "/healthz"),
        (CUSTOM, "Deployment", f"{CONTAINER}.livenessProbe.httpGet.path", "/healthz"),
        (CUSTOM, "Deployment", f"{CONTAINER}.startupProbe.httpGet.path", "/healthz"),
        (CUSTOM, "Deployment", f"{CONTAINER}.readinessProbe.httpGet.port", "http"),
        (CUSTOM, "Deployment", "spec.selector.matchLabels",
         {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "staging"}),
        (CUSTOM, "Service", "metadata.name", "web"),
        (CUSTOM, "Service", "spec.ports.0", {"name": "http", "port": 8080,
                                             "targetPort": "http", "protocol": "TCP"}),
        (CUSTOM, "Service", "spec.selector",
         {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "staging"}),
        (CUSTOM, "PodDisruptionBudget", "metadata.name", "web"),
        (CUSTOM, "PodDisruptionBudget", "spec.maxUnavailable", 1),
        (CUSTOM, "PodDisruptionBudget", "spec.selector.matchLabels",
         {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "staging"}),
    ],
)  # fmt: skip
def test_declaration_to_fields(toml: str, kind: str, path: str, expected: Any) -> None:
    assert field(objects(toml)[kind], path) == expected


@pytest.mark.parametrize(
    ("settings", "path", "expected"),
    [
        ({"environment": "production"}, f"{CONTAINER}.env.0.value", "production"),
        ({"environment": "production"}, "spec.selector.matchLabels",
         {"app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "production"}),
        ({"replicas": 5}, "spec.replicas", 5),
        ({"image": f"127.0.0.1:5000/o/api:v1.2.3@{DIGEST}"}, f"{CONTAINER}.image",
         f"127.0.0.1:5000/o/api:v1.2.3@{DIGEST}"),
    ],
)  # fmt: skip
def test_settings_to_fields(settings: dict[str, Any], path: str, expected: Any) -> None:
    assert field(objects(**settings)["Deployment"], path) == expected


def test_the_rollout_never_takes_a_ready_pod_away_first() -> None:
    spec = objects()["Deployment"]["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_every_probe_asks_the_declared_path_on_the_named_port() -> None:
    container = field(objects(CUSTOM)["Deployment"], CONTAINER)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[kind]["httpGet"] == {"path": "/healthz", "port": "http",
                                              "scheme": "HTTP"}
        assert container[kind]["successThreshold"] == 1  # liveness and startup must be 1
    assert container["ports"][0]["name"] == "http"


def test_resources_have_requests_and_a_memory_limit() -> None:
    resources = field(objects()["Deployment"], f"{CONTAINER}.resources")
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"memory"}


# -- the compose hardening, mirrored ---------------------------------------------------------

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
API = COMPOSE["services"]["api"]


def test_the_pod_runs_as_the_user_compose_and_the_dockerfile_name() -> None:
    found = NUMERIC_USER.fullmatch(final_stage_user(DOCKERFILE.read_text(encoding="utf-8")) or "")
    assert found is not None
    assert API["user"] == f"{RUN_AS}:{RUN_AS}" == f"{found['uid']}:{found['gid']}"
    deployment = objects()["Deployment"]
    for context in (field(deployment, f"{POD}.securityContext"),
                    field(deployment, f"{CONTAINER}.securityContext")):  # fmt: skip
        assert context["runAsNonRoot"] is True
        assert (context["runAsUser"], context["runAsGroup"]) == (RUN_AS, RUN_AS)
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_container_mirrors_compose_read_only_no_new_privileges_and_cap_drop() -> None:
    context = field(objects()["Deployment"], f"{CONTAINER}.securityContext")
    assert API["read_only"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert "no-new-privileges:true" in API["security_opt"]
    assert context["allowPrivilegeEscalation"] is False
    assert API["cap_drop"] == ["ALL"] == context["capabilities"]["drop"]
    assert context["privileged"] is False


def test_each_compose_tmpfs_is_a_writable_memory_volume() -> None:
    assert tuple(API["tmpfs"]) == WRITABLE
    pod = field(objects()["Deployment"], POD)
    mounts = {mount["mountPath"]: mount["name"] for mount in pod["containers"][0]["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for path in API["tmpfs"]:
        assert volumes[mounts[path]]["emptyDir"]["medium"] == "Memory"


def test_the_pod_gets_no_api_token() -> None:
    assert field(objects()["Deployment"], f"{POD}.automountServiceAccountToken") is False


# -- the pin rule and what Kubernetes cannot take -------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [IMAGE, f"ghcr.io/acout/api:v1.2.3@{DIGEST}", f"registry:5000/a/b-c/d_e@{DIGEST}",
     f"api@{DIGEST}", f"localhost:5000/api:sha-0123456789ab@{DIGEST}"],
)  # fmt: skip
def test_a_pinned_image_is_taken(reference: str) -> None:
    assert pinned_image(reference) == reference


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("ghcr.io/acout/api:v1.2.3", r"has no digest: .* Pin it: ghcr.io/acout/api:v1.2.3@sha256"),
        ("ghcr.io/acout/api", "has no digest"),
        ("ghcr.io/acout/api@sha256:abc", "malformed digest 'sha256:abc'"),
        (f"ghcr.io/acout/api@{DIGEST.upper()}", "malformed digest"),
        (f"ghcr.io/Acout/api@{DIGEST}", "is not an image reference"),
        (f"ghcr.io/acout/api:-bad@{DIGEST}", "is not an image reference"),
        (f"@{DIGEST}", "is not an image reference"),
        ("", "is not an image reference"),
        (f"ghcr.io/acout/api;rm@{DIGEST}", "is not an image reference"),
    ],
)
def test_an_unpinned_or_malformed_image_is_refused(reference: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        render(image=reference)
    assert repr(reference) in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "settings", "says"),
    [
        ('name = "1api"', {}, r"name: '1api' cannot name a Kubernetes Service"),
        ("[health]\nstatus = [503]", {}, r"health.status: \[503\] is outside 200-399"),
        ("[health]\nstatus = [200, 418]", {}, r"\[418\]"),
        ("", {"environment": "prod_"}, "'prod_' cannot be a Kubernetes label value"),
        ("", {"environment": "Prod"}, "'Prod' cannot be a Kubernetes label value"),
        ("", {"replicas": 0}, "replicas 0 is refused"),
        ("", {"replicas": 1001}, "replicas 1001 is refused"),
    ],
)
def test_what_kubernetes_cannot_take_is_refused(toml: str, settings: dict[str, Any],
                                                says: str) -> None:  # fmt: skip
    with pytest.raises(InvalidInput, match=says):
        render(toml, **settings)


def test_the_notes_say_what_the_kubelet_does_not_check() -> None:
    assert any("read no body" in note for note in render().notes)
    assert not any("one replica" in note for note in render().notes)
    assert any("one replica" in note for note in render(replicas=1).notes)


# -- the YAML --------------------------------------------------------------------------------


def test_the_stream_is_every_object_sorted_and_stable() -> None:
    manifests = render(CUSTOM).objects
    text = documents.stream("staging", manifests)
    assert text == documents.stream("staging", render(CUSTOM).objects)
    assert list(yaml.safe_load_all(text)) == list(manifests)
    assert "&id" not in text
    assert "*id" not in text
    first = [line for line in text.splitlines() if line and line[0].isalpha()]
    assert first[:4] == ["apiVersion: apps/v1", "kind: Deployment", "metadata:", "spec:"]


def test_one_file_per_object() -> None:
    manifests = render().objects
    texts = documents.files("staging", manifests)
    assert list(texts) == ["deployment.yaml", "service.yaml", "poddisruptionbudget.yaml"]
    for (name, text), manifest in zip(texts.items(), manifests, strict=True):
        assert text.startswith("# Rendered by `python -m deploy staging render")
        assert yaml.safe_load(text) == manifest, name
