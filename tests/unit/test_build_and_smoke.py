"""The build and smoke stages' pure parts, read from the declaration: where the Dockerfile is
for Dagger, which build arguments go in, what the smoke probe asks and how it judges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci.plan import plan_release
from ci.settings import Settings
from ci.stages.image import PIPELINE_ARGS, build_args, check_build
from ci.stages.smoke import judge, probe_step, read_probe
from shipyard.declaration import (
    Build,
    Declaration,
    Health,
    Identity,
    dockerfile_in_context,
    load_declaration,
)
from shipyard.errors import DeclarationError
from shipyard.identity import REVISION_LABEL

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "tests/fixtures/template-service"
SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "f" * 40


@pytest.mark.parametrize(("context", "dockerfile", "relative"), [
    (".", "Dockerfile", "Dockerfile"),
    (".", "docker/prod.Dockerfile", "docker/prod.Dockerfile"),
    ("backend", "backend/Dockerfile", "Dockerfile"),
    ("./backend/", "backend/Dockerfile", "Dockerfile"),
    ("backend", "./backend/docker/Dockerfile", "docker/Dockerfile"),
    ("services/api", "services/api/Dockerfile.prod", "Dockerfile.prod"),
])  # fmt: skip
def test_the_dockerfile_relative_to_the_context(context: str, dockerfile: str,
                                                relative: str) -> None:
    assert dockerfile_in_context(Build(context=context, dockerfile=dockerfile)) == relative


@pytest.mark.parametrize(("context", "dockerfile"), [
    ("backend", "Dockerfile"), ("backend", "backend2/Dockerfile"), ("a/b", "a/Dockerfile"),
])  # fmt: skip
def test_a_dockerfile_outside_the_context_is_refused_naming_the_key(context: str,
                                                                     dockerfile: str) -> None:
    with pytest.raises(DeclarationError) as refused:
        check_build(Build(context=context, dockerfile=dockerfile))
    assert refused.value.key == "build.dockerfile"
    assert f"outside build.context {context!r}" in str(refused.value)


def test_declared_build_args_go_in_beside_the_pipelines_own() -> None:
    plan = plan_release("refs/heads/develop", SHA, "push")
    args = build_args(plan, Settings(), 0, {"APP_ENV": "prod", "EXTRAS": "pdf"})
    values = {arg.name: arg.value for arg in args}
    assert values["APP_ENV"] == "prod"
    assert values["EXTRAS"] == "pdf"
    assert values["COMMIT"] == SHA
    assert set(PIPELINE_ARGS) <= set(values)


@pytest.mark.parametrize("name", PIPELINE_ARGS)
def test_a_declared_arg_the_pipeline_sets_is_refused(name: str) -> None:
    with pytest.raises(DeclarationError) as refused:
        check_build(Build(args={name: "mine"}))
    assert refused.value.key == f"build.args.{name}"
    assert "the pipeline sets itself" in str(refused.value)
    if name == "BASE_IMAGE":
        assert "BASE_IMAGE variable" in str(refused.value)


def test_the_template_service_declaration_loads_and_builds_from_backend() -> None:
    declaration = load_declaration(TEMPLATE)
    check_build(declaration.build)
    assert (declaration.name, declaration.port) == ("backend", 80)
    assert dockerfile_in_context(declaration.build) == "Dockerfile"
    assert declaration.build.target == "runtime"
    assert declaration.health.expect is True
    assert declaration.identity.source == "revision-label"
    assert declaration.locks.uv == ["backend/uv.lock"]
    assert declaration.locks.requirements == []


def test_the_probe_asks_the_declared_port_path_and_statuses() -> None:
    template = load_declaration(TEMPLATE)
    assert probe_step(template).argv[3:] == (
        "http://backend:80/api/v1/utils/health-check/", "60", "200")
    demo = Declaration(health=Health(status=[200, 204]))
    assert probe_step(demo).argv[3:] == ("http://api:8000/health", "60", "200,204")


def probe(status: int, body: object) -> str:
    """What the probe prints: its last answer, as one JSON line."""
    text = body if isinstance(body, str) else json.dumps(body)
    return json.dumps({"status": status, "body": text}) + "\n"


BY_REVISION = Declaration(port=80, health=Health(path="/api/v1/utils/health-check/",
                                                 expect=True),
                          identity=Identity(source="revision-label"))  # fmt: skip
DEMO = Declaration()
JUDGED = [
    # declaration, uid, probe output, revision label, problems (substrings, in order)
    (DEMO, "10001\n", probe(200, {"status": "ok", "commit": SHA}), None, []),
    (DEMO, "0\n", probe(200, {"status": "ok", "commit": SHA}), None, ["runs as uid 0 (root)"]),
    (DEMO, "10001\n", probe(200, {"status": "ok", "commit": OTHER}), None,
     ["/health reports commit 'ffff"]),
    (DEMO, "10001\n", probe(200, {"status": "down", "commit": SHA}), None,
     ['/health answered "status": "down", not "ok"']),
    (DEMO, "10001\n", probe(500, "boom"), None, ["/health answered HTTP 500, not 200"]),
    (BY_REVISION, "10001\n", probe(200, True), SHA, []),
    (BY_REVISION, "10001\n", probe(200, True), OTHER,
     [f"{REVISION_LABEL} label is 'ffffffff", "not 0123456789ab"]),
    (BY_REVISION, "10001\n", probe(200, True), None, [f"has no {REVISION_LABEL} label"]),
    (BY_REVISION, "10001\n", probe(200, True), "", [f"has no {REVISION_LABEL} label"]),
    (BY_REVISION, "10001\n", probe(200, False), SHA,
     ["/api/v1/utils/health-check/ answered false, not true"]),
    (BY_REVISION, "0\n", probe(200, True), OTHER, ["(root)", "label is 'ffff"]),
    (BY_REVISION, "10001\n", "Traceback (most recent call last)\n", SHA,
     ["the health probe printed 'Traceback"]),
]  # fmt: skip


@pytest.mark.parametrize(("declaration", "uid", "output", "revision", "problems"), JUDGED)
def test_smoke_judgement(declaration: Declaration, uid: str, output: str, revision: str | None,
                         problems: list[str]) -> None:
    found = judge(declaration, uid, output, SHA, revision)
    joined = " | ".join(found)
    for problem in problems:
        assert problem in joined
    if not problems:
        assert found == []


def test_a_revision_label_is_not_read_as_proof_for_health_json() -> None:
    """health-json: the label is not consulted, even when it names the commit."""
    found = judge(DEMO, "10001\n", probe(200, {"status": "ok", "commit": OTHER}), SHA, SHA)
    assert len(found) == 1
    assert "reports commit" in found[0]


def test_read_probe() -> None:
    answer = read_probe('noise\n{"status": 204, "body": ""}\n')
    assert not isinstance(answer, str)
    assert (answer.status, answer.body) == (204, "")
    assert read_probe("") == "the health probe printed '', not its answer"
