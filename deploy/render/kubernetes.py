"""Pure: the service declaration and a digest-pinned image → a Deployment, Service and PDB."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deploy.config import DIGEST_PATTERN, ENVIRONMENT_PATTERN, TAG_PATTERN
from deploy.errors import InvalidInput
from shipyard.declaration import Declaration

# The shipped docker-compose.yml's hardening, and the Dockerfile's `USER 10001:10001`
# (tests/unit/deploy/test_render_kubernetes.py reads both files and checks these agree).
RUN_AS = 10001  # uid and gid
WRITABLE = ("/tmp",)  # noqa: S108 - compose's tmpfs: the only writable paths under a read-only root
TMP_SIZE = "64Mi"  # each is a memory-backed emptyDir (as a tmpfs is), counted in the limit
# Probe timing: the compose healthcheck's interval, timeout and retries (5 s, 3 s, 3); the
# start-up budget is the deployer's default <ENV>_HEALTH_TIMEOUT (60 s: 12 probes 5 s apart).
PERIOD, TIMEOUT, RETRIES, STARTUP_PROBES = 5, 3, 3, 12
LIVENESS_PERIOD = 10
MIN_READY = 5  # a new pod stays ready this long before the rollout replaces the next old one
GRACE = 30  # SIGTERM to SIGKILL: the deployer's default <ENV>_DRAIN
MAX_REPLICAS = 1000
PORT_NAME = "http"
# A DNS-1035 label: what a Service's name must be (a DNS-1123 label that starts with a letter).
SERVICE_NAME = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
LABEL_VALUE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")
# An image repository: path components of a-z 0-9 and single separators, after an optional
# registry host[:port] (the distribution reference grammar, without upper-case paths).
REPOSITORY = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


@dataclass(frozen=True, slots=True)
class Resources:
    """Requests and limits per pod; no CPU limit (throttling hurts latency more than it
    protects neighbours; the request reserves the CPU)."""

    cpu_request: str = "100m"
    memory_request: str = "128Mi"
    memory_limit: str = "256Mi"


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    """What the environment adds to the declaration: its name, the image, how many pods."""

    environment: str
    image: str  # REPOSITORY[:TAG]@sha256:DIGEST
    replicas: int = 2
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True, slots=True)
class Manifests:
    """The objects, in the order to apply them, and what a reader should know about them."""

    objects: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()


def pinned_image(reference: str) -> str:
    """`REPOSITORY[:TAG]@sha256:DIGEST`, or InvalidInput naming the value and the fix."""
    name, at, digest = reference.partition("@")
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    if not REPOSITORY.fullmatch(repository) or (tag and not TAG_PATTERN.fullmatch(tag)):
        raise InvalidInput(
            f"The image {reference!r} is not an image reference: write REPOSITORY@sha256:<64 "
            "hex>, the repository in lower-case a-z 0-9 . _ - separated by /, after an "
            "optional registry host[:port], e.g. ghcr.io/acout/api@sha256:<digest>."
        )
    if not at:
        raise InvalidInput(
            f"The image {reference!r} has no digest: a tag can move, so pods started later "
            "(a reschedule, a scale-up) could run another build. Pin it: "
            f"{name}@sha256:<digest>, the digest `python -m deploy staging status` shows "
            "or the pipeline's publish stage printed."
        )
    if not DIGEST_PATTERN.fullmatch(digest):
        raise InvalidInput(
            f"The image {reference!r} has a malformed digest {digest!r}: write sha256: and "
            "64 lower-case hex digits."
        )
    return reference


def check_names(declaration: Declaration, environment: str) -> None:
    """The names Kubernetes takes from the declaration and the environment."""
    if not SERVICE_NAME.fullmatch(declaration.name):
        raise InvalidInput(
            f"shipyard.toml: name: {declaration.name!r} cannot name a Kubernetes Service, "
            "whose name must start with a letter (a DNS-1035 label): rename the service, "
            f"e.g. {'svc-' + declaration.name!r}."
        )
    if not ENVIRONMENT_PATTERN.fullmatch(environment) or not LABEL_VALUE.fullmatch(environment):
        raise InvalidInput(
            f"Environment {environment!r} cannot be a Kubernetes label value: use lower-case "
            "letters, digits and '_', not ending with '_', e.g. staging or production."
        )


def check_health(declaration: Declaration) -> tuple[str, ...]:
    """The kubelet counts any 200-399 answer as healthy and reads no body: a declared status
    outside that range could never pass (refused); what it cannot check is noted."""
    health = declaration.health
    outside = [status for status in health.status if not 200 <= status <= 399]
    if outside:
        raise InvalidInput(
            f"shipyard.toml: health.status: {outside} is outside 200-399, the only answers a "
            "Kubernetes httpGet probe counts as healthy, so the pods would never become "
            "ready: declare a 2xx status for health.path."
        )
    return (
        f"the kubelet's probes of {health.path} count any 200-399 answer as healthy and read "
        "no body (nor does the compose healthcheck): health.status and health.expect are "
        "checked only where this deployer probes, on compose hosts",
    )


def labels(declaration: Declaration, environment: str) -> dict[str, str]:
    """The selector's labels (fixed once applied: a Deployment's selector is immutable)."""
    return {"app.kubernetes.io/name": declaration.name, "app.kubernetes.io/instance": environment}


def metadata(declaration: Declaration, environment: str) -> dict[str, Any]:
    return {
        "name": declaration.name,
        "labels": {**labels(declaration, environment), "app.kubernetes.io/managed-by": "shipyard"},
    }


def probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME, "scheme": "HTTP"},
        "periodSeconds": period, "timeoutSeconds": TIMEOUT,
        "failureThreshold": failures, "successThreshold": 1,
    }  # fmt: skip


def container_security() -> dict[str, Any]:
    """compose's `user`, `read_only`, `no-new-privileges` and `cap_drop: [ALL]`."""
    return {
        "runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
        "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "privileged": False, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }  # fmt: skip


def volume_name(path: str) -> str:
    return "writable" + path.replace("/", "-").replace("_", "-").replace(".", "-").lower()


def container(declaration: Declaration, settings: KubernetesSettings) -> dict[str, Any]:
    path, resources = declaration.health.path, settings.resources
    return {
        "name": declaration.name,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": PORT_NAME, "containerPort": declaration.port, "protocol": "TCP"}],
        "env": [{"name": "ENVIRONMENT", "value": settings.environment}],
        "startupProbe": probe(path, PERIOD, STARTUP_PROBES),
        "readinessProbe": probe(path, PERIOD, RETRIES),
        "livenessProbe": probe(path, LIVENESS_PERIOD, RETRIES),
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": {"memory": resources.memory_limit},
        },
        "securityContext": container_security(),
        "volumeMounts": [{"name": volume_name(p), "mountPath": p} for p in WRITABLE],
    }


def deployment(declaration: Declaration, settings: KubernetesSettings) -> dict[str, Any]:
    selector = labels(declaration, settings.environment)
    meta = metadata(declaration, settings.environment)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": settings.replicas,
            "selector": {"matchLabels": selector},
            "minReadySeconds": MIN_READY,
            "revisionHistoryLimit": 10,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": meta["labels"]}, "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": GRACE,
                "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS,
                                    "runAsGroup": RUN_AS,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }],
                "containers": [container(declaration, settings)],
                "volumes": [{"name": volume_name(p),
                             "emptyDir": {"medium": "Memory", "sizeLimit": TMP_SIZE}}
                            for p in WRITABLE],
            }},
        },
    }  # fmt: skip


def service(declaration: Declaration, environment: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": metadata(declaration, environment),
        "spec": {
            "type": "ClusterIP",
            "selector": labels(declaration, environment),
            "ports": [{"name": PORT_NAME, "port": declaration.port, "targetPort": PORT_NAME,
                       "protocol": "TCP"}],
        },
    }  # fmt: skip


def disruption_budget(declaration: Declaration, environment: str) -> dict[str, Any]:
    """One pod at a time may be evicted (a node drain); a pod that is not ready may always
    be, so a broken pod never blocks a drain."""
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": metadata(declaration, environment),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": labels(declaration, environment)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }  # fmt: skip


def kubernetes_manifests(declaration: Declaration, settings: KubernetesSettings) -> Manifests:
    """The Deployment, Service and PodDisruptionBudget for one environment; InvalidInput
    (naming the value and the fix) for an unpinned image or what Kubernetes cannot take."""
    pinned_image(settings.image)
    check_names(declaration, settings.environment)
    notes = check_health(declaration)
    if not 1 <= settings.replicas <= MAX_REPLICAS:
        raise InvalidInput(
            f"replicas {settings.replicas} is refused: give 1-{MAX_REPLICAS} (2 or more keep "
            "the service up while a node is drained)."
        )
    if settings.replicas == 1:
        notes += ("one replica: a rollout still starts the new pod before the old one stops, "
                  "but a node drain evicts the only pod (the budget allows one); use 2 or "
                  "more to keep serving through drains",)  # fmt: skip
    objects = (
        deployment(declaration, settings),
        service(declaration, settings.environment),
        disruption_budget(declaration, settings.environment),
    )
    return Manifests(objects, notes)
