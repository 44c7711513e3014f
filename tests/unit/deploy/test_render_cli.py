"""`python -m deploy ENV render --target kubernetes`: needs no host settings; exit 0, 2 for an
unpinned image or a declaration Kubernetes cannot take, 1 when the files cannot be written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
IMAGE = "ghcr.io/acout/api@sha256:" + "0123456789abcdef" * 4
RENDER = ["staging", "render", "--target", "kubernetes", "--image", IMAGE]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (a git root) with the demo's declaration; the CLI runs in it."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "shipyard.toml").write_text((ROOT / "shipyard.toml").read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_prints_one_stream_without_any_host_setting(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(RENDER, environ={}) == 0
    captured = capsys.readouterr()
    kinds = [doc["kind"] for doc in yaml.safe_load_all(captured.out)]
    assert kinds == ["Deployment", "Service", "PodDisruptionBudget"]
    assert "note:" in captured.err
    assert "read no body" in captured.err
    assert main([*RENDER, "--out", "-"], environ={}) == 0
    assert capsys.readouterr().out == captured.out  # stable: the same bytes again


def test_out_writes_one_file_per_object(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = project / "deploy" / "k8s"
    assert main([*RENDER, "--out", str(out)], environ={}) == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == ["deployment.yaml", "poddisruptionbudget.yaml", "service.yaml"]
    assert f"staging: wrote {out / 'deployment.yaml'}" in capsys.readouterr().out
    deployment = yaml.safe_load((out / "deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert main([*RENDER, "--out", str(out)], environ={}) == 0
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_tag_without_a_digest_is_refused_and_nothing_is_written(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = project / "k8s"
    argv = ["staging", "render", "--target", "kubernetes", "--image", "ghcr.io/acout/api:v1",
            "--out", str(out)]  # fmt: skip
    assert main(argv, environ={}) == 2
    err = capsys.readouterr().err
    assert "'ghcr.io/acout/api:v1' has no digest" in err
    assert "Pin it: ghcr.io/acout/api:v1@sha256:<digest>" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("declaration", "says"),
    [
        ("[health]\nstatus = [503]\n", "health.status: [503] is outside 200-399"),
        ('name = "1api"\n', "'1api' cannot name a Kubernetes Service"),
        ("[health]\npath = 'health'\n", "health.path: 'health' must start with /"),
        ("colour = 'blue'\n", "colour: is not a key of the declaration"),
    ],
)
def test_a_bad_declaration_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], declaration: str, says: str
) -> None:
    (project / "shipyard.toml").write_text(declaration)
    assert main(RENDER, environ={}) == 2
    captured = capsys.readouterr()
    assert says in captured.err
    assert captured.out == ""


def test_out_naming_a_file_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*RENDER, "--out", str(project / "shipyard.toml")], environ={}) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_folder_that_cannot_be_written_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = project / "k8s"
    blocked.mkdir()
    (blocked / "deployment.yaml").mkdir()  # a folder where the file must go
    assert main([*RENDER, "--out", str(blocked)], environ={}) == 1
    assert "error:" in capsys.readouterr().err


def test_json_result(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = project / "k8s"
    assert main([*RENDER, "--out", str(out), "--json"], environ={}) == 0
    result = json.loads(capsys.readouterr().out)
    assert {key: result[key] for key in ("schema", "command", "environment", "ok", "error",
                                         "target", "image")} == {
        "schema": 1, "command": "render", "environment": "staging", "ok": True, "error": None,
        "target": "kubernetes", "image": IMAGE}  # fmt: skip
    assert result["files"] == [str(out / name) for name in
                               ("deployment.yaml", "service.yaml", "poddisruptionbudget.yaml")]
    assert [m["kind"] for m in result["manifests"]] == ["Deployment", "Service",
                                                        "PodDisruptionBudget"]
    assert result["notes"]


def test_json_failure(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["staging", "render", "--target", "kubernetes", "--image", "api:v1", "--json"]
    assert main(argv, environ={}) == 2
    result = json.loads(capsys.readouterr().out)
    assert (result["ok"], result["manifests"], result["files"]) == (False, [], [])
    assert "has no digest" in result["error"]


@pytest.mark.parametrize(
    "argv",
    [
        ["staging", "render", "--target", "kubernetes"],  # no --image
        ["staging", "render", "--image", IMAGE],  # no --target
        ["staging", "render", "--target", "nomad", "--image", IMAGE],
        [*RENDER, "--replicas", "two"],
    ],
)
def test_bad_flags_are_refused_by_the_parser(project: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, environ={})
    assert exited.value.code == 2


def test_replicas_out_of_range_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*RENDER, "--replicas", "0"], environ={}) == 2
    assert "replicas 0 is refused" in capsys.readouterr().err


def test_as_a_process_it_loads_no_ssh_library(project: Path) -> None:
    code = ("import sys\nfrom deploy.cli.main import main\n"
            f"code = main({RENDER!r}, environ={{}})\n"
            "sys.stderr.write(str('asyncssh' in sys.modules))\nsys.exit(code)")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, run in the project
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=project, env=env, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("False")
    assert len(list(yaml.safe_load_all(done.stdout))) == 3
