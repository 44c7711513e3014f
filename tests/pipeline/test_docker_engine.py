"""The Docker-backed stand-in engine, driven through the real dagger-io SDK on the rig's dockerd."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import anyio
import dagger
import httpx
import pytest
from dagger import dag

from tests.pipeline.docker_engine import (
    PREFIX,
    DockerEngine,
    exclude_regex,
    exec_argv,
    listening_ports,
    registry_host,
)
from tests.rig.registry import Registry

PYTHON = "python:3.12-slim-bookworm"
SECRET = "s3cr3t-value-for-the-stand-in-42"
SECRET_SHA = hashlib.sha256(SECRET.encode()).hexdigest()
rig = pytest.mark.rig


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def python() -> dagger.Container:
    return dag.container().from_(PYTHON)


# -- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "path", "excluded"), [
    (".venv", ".venv", True), (".venv", ".venv/bin/python", True), (".venv", "a/.venv", False),
    ("**/__pycache__", "__pycache__", True), ("**/__pycache__", "a/b/__pycache__/x.pyc", True),
    ("*.egg-info", "shipyard.egg-info/PKG-INFO", True), ("*.egg-info", "a/b.egg-info", False),
    ("reports", "reports/tests/junit.xml", True), ("reports", "reportsx", False),
    ("./build/", "build/lib", True), ("a?c", "abc", True), ("a?c", "a/c", False),
])  # fmt: skip
def test_exclude_patterns_follow_dockerignore_globs(
    pattern: str, path: str, excluded: bool
) -> None:
    assert bool(exclude_regex(pattern).fullmatch(path)) is excluded


def test_exec_argv_wraps_only_for_secrets_or_redirects() -> None:
    assert exec_argv(["pytest", "-q"], [], "") == ["pytest", "-q"]
    wrapped = exec_argv(["safety", "scan"], ["SAFETY_API_KEY"], "out file.txt")
    assert wrapped[:2] == ["/bin/sh", "-c"]
    assert wrapped[3:] == ["dagger-exec", "safety", "scan"]
    assert "cat /run/dagger-standin-secrets/SAFETY_API_KEY" in wrapped[2]
    assert wrapped[2].endswith("exec \"$@\" > 'out file.txt'")


def test_listening_ports_reads_proc_net_tcp() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 00000000:1F40 00000000:0000 0A 00000000:00000000\n"
        "   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000\n"
    )
    assert listening_ports(table) == {8000}


@pytest.mark.parametrize(("address", "host"), [
    ("127.0.0.1:5000/acme/shop:1", "127.0.0.1:5000"), ("ghcr.io/acme/shop", "ghcr.io"),
    ("127.0.0.1:5000", "127.0.0.1:5000"), ("library/python:3", "docker.io"),
])  # fmt: skip
def test_registry_host(address: str, host: str) -> None:
    assert registry_host(address) == host


# -- executing on Docker ----------------------------------------------------------------------


@rig
@pytest.mark.anyio
async def test_exec_output_and_exit_code(docker_engine: DockerEngine) -> None:
    async with dagger.connection():
        ran = python().with_exec(["sh", "-c", "echo out; echo err >&2; exit 3"],
                                 expect=dagger.ReturnType.ANY)
        assert await ran.exit_code() == 3
        assert await ran.stdout() == "out\n"
        assert await ran.stderr() == "err\n"
        env = python().with_env_variable("GREETING", "hi there").with_workdir("/work")
        assert await env.with_exec(["sh", "-c", 'echo "$GREETING in $PWD"']).stdout() == (
            "hi there in /work\n")
        wrong = python().with_exec(["true"], expect=dagger.ReturnType.FAILURE)
        with pytest.raises(dagger.ExecError):
            await wrong.sync()


@rig
@pytest.mark.anyio
async def test_a_failing_exec_is_an_exec_error_with_its_fields(
    docker_engine: DockerEngine,
) -> None:
    async with dagger.connection():
        failing = python().with_exec(["sh", "-c", "echo partial; echo boom >&2; exit 5"])
        with pytest.raises(dagger.ExecError) as caught:
            await failing.with_exec(["echo", "never"]).stdout()
    error = caught.value
    assert (error.exit_code, error.stdout, error.stderr) == (5, "partial\n", "boom\n")
    assert error.command == ["sh", "-c", "echo partial; echo boom >&2; exit 5"]


@rig
@pytest.mark.anyio
async def test_files_directories_and_host_folders(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "mod.py").write_text("print('kept')\n")
    (source / ".gitignore").write_text("*.log\nbuild/\n")
    (source / "debug.log").write_text("ignored by .gitignore\n")
    (source / "build").mkdir()
    (source / "build" / "x").write_text("ignored\n")
    (source / ".venv").mkdir()
    (source / ".venv" / "big").write_text("excluded\n")
    (source / "note.txt").write_text("a file\n")
    async with dagger.connection():
        src = dag.host().directory(str(source), exclude=[".venv"], gitignore=True)
        ctr = (python().with_directory("/src", src).with_workdir("/src")
               .with_file("/etc/note.txt", dag.host().file(str(source / "note.txt")))
               .with_file("/etc/mod.py", src.file("pkg/mod.py"))
               .with_exec(["sh", "-c", "find . -type f | sort"])
               .with_exec(["sh", "-c", "mkdir -p out && cp /etc/note.txt out/"])
               .with_exec(["ls", "-a", "pkg"], redirect_stdout="out/listing.txt"))
        listed = await ctr.with_exec(["sh", "-c", "find . -type f | sort"]).stdout()
        assert await ctr.file("out/note.txt").contents() == "a file\n"
        assert await ctr.file("/etc/mod.py").contents() == "print('kept')\n"
        exported = await ctr.directory("out").export(str(tmp_path / "exported"))
        with pytest.raises(dagger.QueryError, match=r"'missing\.txt' in the container"):
            await ctr.file("missing.txt").contents()
    assert listed.split() == ["./.gitignore", "./note.txt", "./out/listing.txt",
                              "./out/note.txt", "./pkg/mod.py"]
    assert exported == str(tmp_path / "exported")
    assert (tmp_path / "exported" / "listing.txt").read_text().split() == [".", "..", "mod.py"]


@rig
@pytest.mark.anyio
async def test_cache_volume_is_shared_and_removed_with_the_engine(
    docker_engine: DockerEngine,
) -> None:
    async with dagger.connection():
        cache = dag.cache_volume("pip-cache")
        await (python().with_mounted_cache("/cache", cache)
               .with_exec(["sh", "-c", "echo first > /cache/mark"]).sync())
        seen = await (dag.container().from_(PYTHON).with_workdir("/elsewhere")
                      .with_mounted_cache("/other", cache).with_exec(["cat", "/other/mark"])
                      .stdout())
        in_image = await python().with_exec(["ls", "/cache"],
                                            expect=dagger.ReturnType.ANY).exit_code()
    assert seen == "first\n"
    assert in_image != 0  # a cache mount is not part of the container's filesystem
    [volume] = docker_engine.docker.volumes.values()
    docker_engine.stop()
    assert volume not in docker("volume", "ls", "--quiet").split()
    assert docker_engine.docker.instance not in docker("ps", "--all", "--format", "{{.Names}}")
    assert not [image for image in docker_engine.docker.made_images
                if image in docker("images", "--quiet", "--no-trunc", "--all")]


@rig
@pytest.mark.anyio
async def test_secret_is_not_on_any_command_line_or_in_any_config(
    docker_engine: DockerEngine,
) -> None:
    seen: list[str] = []

    async def watch() -> None:
        while True:
            names = docker("ps", "--format", "{{.Names}}", "--filter", f"name={PREFIX}-").split()
            for name in names:
                seen.append(name)
                text = docker("inspect", name) + docker("ps", "--no-trunc")
                assert SECRET not in text
            await anyio.sleep(0.2)

    async with dagger.connection():
        secret = dag.set_secret("token", SECRET)
        ctr = python().with_secret_variable("TOKEN", secret).with_exec(
            ["sh", "-c", f'sleep 2; test "$(printf %s "$TOKEN" | sha256sum)" = "{SECRET_SHA}  -" '
             '&& echo "match $TOKEN"'])
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            out = await ctr.stdout()
            group.cancel_scope.cancel()
        published = await ctr.with_exec(["true"]).sync()
    assert out == "match ***\n"  # the value matched inside, and is scrubbed from output
    assert seen, "the exec container was never seen running"
    assert published is not None
    for image in docker_engine.docker.made_images:
        assert SECRET not in docker("image", "inspect", image)


@rig
@pytest.mark.anyio
async def test_publish_answers_the_digest_the_registry_serves(
    docker_engine: DockerEngine, registry: Registry
) -> None:
    address = f"{registry.address}/standin/published:v1"
    async with dagger.connection():
        password = dag.set_secret("registry-password", "not-checked-by-the-rig-registry")
        ref = await (python().with_exec(["sh", "-c", "echo built > /built"])
                     .with_env_variable("STAGE", "published")
                     .with_registry_auth(registry.address, "ci", password).publish(address))
    name, _, digest = ref.partition("@")
    async with httpx.AsyncClient() as client:
        head = await client.head(
            f"{registry.url}/v2/standin/published/manifests/v1",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
    assert name == address
    assert digest == head.headers["Docker-Content-Digest"]
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config.Env}}", address))
    assert "STAGE=published" in config


@rig
@pytest.mark.anyio
async def test_a_bound_service_answers_at_its_alias(docker_engine: DockerEngine) -> None:
    async with dagger.connection():
        web = (python().with_workdir("/srv").with_exec(["sh", "-c", "echo hello > index.html"])
               .with_exposed_port(8080)
               .as_service(args=["python3", "-m", "http.server", "8080"]))
        fetch = ("import urllib.request; "
                 "print(urllib.request.urlopen('http://web:8080/index.html').read().decode())")
        out = await (python().with_service_binding("web", web)
                     .with_exec(["python3", "-c", fetch]).stdout())
    assert out == "hello\n\n"


@rig
@pytest.mark.anyio
async def test_what_it_does_not_execute_is_refused_by_name(docker_engine: DockerEngine) -> None:
    async with dagger.connection():
        with pytest.raises(dagger.QueryError, match=r"Container\.withUser is not supported"):
            await python().with_user("nobody").with_exec(["id"]).stdout()
        with pytest.raises(dagger.QueryError, match=r"Container\.withExec\(stdin:\)"):
            await python().with_exec(["cat"], stdin="input").stdout()
        with pytest.raises(dagger.QueryError, match=r"zricethezav/gitleaks:v8\.28\.0"):
            await dag.container().from_("zricethezav/gitleaks:v8.28.0").with_exec(
                ["gitleaks", "version"]).stdout()


@rig
@pytest.mark.anyio
async def test_injected_failure_and_content_keyed_caching(docker_engine: DockerEngine) -> None:
    docker_engine.fail_exec(lambda argv: argv[:2] == ["pip", "install"], exit_code=1,
                            stderr="ERROR: no matching distribution")
    async with dagger.connection():
        with pytest.raises(dagger.ExecError) as caught:
            await python().with_exec(["pip", "install", "bandit"]).sync()
        first = await python().with_exec(["sh", "-c", "date +%s%N"]).stdout()
        again = await python().with_exec(["sh", "-c", "date +%s%N"]).stdout()
    assert (caught.value.exit_code, caught.value.stderr) == (1, "ERROR: no matching distribution")
    assert first == again  # the same inputs: the exec ran once, as Dagger caches it


@rig
@pytest.mark.anyio
async def test_stop_cleans_up_after_an_exec_whose_client_went_away(
    docker_engine: DockerEngine,
) -> None:
    async with dagger.connection():
        with anyio.move_on_after(1.5):
            await python().with_exec(["sh", "-c", "sleep 3; echo late > /late"]).sync()
    docker_engine.stop()
    assert docker_engine.docker.made_images  # the exec finished and was committed, then removed
    assert docker_engine.docker.instance not in docker("ps", "--all", "--format", "{{.Names}}")
    present = docker("images", "--quiet", "--no-trunc", "--all")
    assert not [image for image in docker_engine.docker.made_images if image in present]
