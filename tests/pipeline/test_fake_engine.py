"""Tests of the fake Dagger engine, driven through the real dagger-io SDK."""

from __future__ import annotations

import asyncio
import importlib.metadata
import socket
import sys
from pathlib import Path

import anyio
import dagger
import httpx
import pytest
from dagger import dag

from ci.settings import DAGGER_VERSION
from tests.pipeline.fake_calls import Call, Obj
from tests.pipeline.fake_engine import FakeEngine
from tests.pipeline.fake_schema import default_schema_path

pytestmark = pytest.mark.anyio

DIGEST = "a" * 64


def build_image() -> dagger.Container:
    src = dag.host().directory(".", exclude=[".venv", ".git"])
    return src.docker_build(build_args=[dagger.BuildArg(name="VERSION", value="1.2.3")])


async def test_lazy_chain_publish_returns_responder_value(fake_engine: FakeEngine) -> None:
    fake_engine.respond("Container.publish", lambda call: f"{call.args['address']}@sha256:{DIGEST}")

    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        ref = await build_image().publish("127.0.0.1:5000/app:sha-abc")

    assert ref == f"127.0.0.1:5000/app:sha-abc@sha256:{DIGEST}"
    [publish] = fake_engine.calls("Container.publish")
    assert [c.key for c in publish.chain] == [
        "Query.host",
        "Host.directory",
        "Directory.dockerBuild",
        "Container.publish",
    ]
    build = publish.find("dockerBuild")
    assert build is not None
    assert build.args["buildArgs"] == [{"name": "VERSION", "value": "1.2.3"}]
    assert build.parent.last is not None
    assert build.parent.last.args == {"path": ".", "exclude": [".venv", ".git"]}
    assert fake_engine.chains_ending_in("publish") == [publish.chain]


async def test_defaults_version_and_legacy_connection(fake_engine: FakeEngine) -> None:
    async with dagger.Connection(dagger.Config()) as client:
        assert await client.version() == f"v{DAGGER_VERSION}"
        ref = await client.container().from_("alpine").publish("127.0.0.1:5000/a:1")
        code = await client.container().from_("alpine").with_exec(["true"]).exit_code()

    assert ref.startswith("127.0.0.1:5000/a:1@sha256:")
    assert len(ref.rsplit(":", 1)[1]) == 64
    assert code == 0
    assert fake_engine.queries[0].lstrip().startswith("query IntrospectionQuery")


async def test_with_exec_args_and_stdout(fake_engine: FakeEngine) -> None:
    def echo_command(call: Call) -> str:
        exec_ = call.find("withExec")
        return " ".join(exec_.args["args"]) if exec_ else ""

    fake_engine.respond("Container.stdout", echo_command)

    async with dagger.connection():
        ctr = dag.container().from_("python:3.11-slim").with_exec(["pytest", "-q"])
        out = await ctr.stdout()

    assert out == "pytest -q"
    [exec_] = fake_engine.calls("withExec")
    assert exec_.args == {"args": ["pytest", "-q"]}
    assert exec_.find("from") is not None
    assert [c.path() for c in fake_engine.leaves()] == ["version", "container.from.withExec.stdout"]


async def test_secrets_are_recorded_and_traced_to_set_secret(fake_engine: FakeEngine) -> None:
    async with dagger.connection():
        secret = dag.set_secret("registry-token", "s3cr3t")
        await build_image().with_registry_auth("ghcr.io", "user", secret).publish("ghcr.io/o/app:1")

    assert fake_engine.secret_plaintexts() == ["s3cr3t"]
    assert fake_engine.secrets() == {"registry-token": "s3cr3t"}
    [auth] = fake_engine.calls("withRegistryAuth")
    passed = auth.args["secret"]
    assert isinstance(passed, Obj)
    assert passed.type_name == "Secret"
    assert passed.last is not None
    assert passed.last.key == "Query.setSecret"
    assert passed.last.args["name"] == "registry-token"
    # The plaintext travels once, in the setSecret query; later queries carry only its ID.
    assert [q for q in fake_engine.queries if "s3cr3t" in q] == [
        q for q in fake_engine.queries if "setSecret" in q
    ]


async def test_ids_resolve_back_to_their_chains(fake_engine: FakeEngine) -> None:
    async with dagger.connection():
        src = dag.host().directory("app")
        synced = await dag.container().from_("alpine").with_directory("/src", src).sync()
        await synced.stdout()
        same = dag.load_container_from_id(dagger.ContainerID(await synced.id()))
        await same.file("/src/x").contents()

    [stdout] = fake_engine.calls("Container.stdout")
    assert stdout.path() == "container.from.withDirectory.stdout"  # node(id:) expanded
    with_dir = stdout.find("withDirectory")
    assert with_dir is not None
    source = with_dir.args["source"]
    assert isinstance(source, Obj)
    assert source.path() == "host.directory"
    [contents] = fake_engine.calls("File.contents")
    assert contents.path() == "container.from.withDirectory.file.contents"


async def test_queries_are_checked_against_the_pinned_sdk_version(
    fake_engine: FakeEngine,
) -> None:
    pinned = importlib.metadata.version("dagger-io")
    assert pinned == DAGGER_VERSION
    assert default_schema_path().name == f"schema-v{pinned}.graphqls"
    # dagger-io 0.21.11 added the Volume API: a client of another version is caught.
    query = '{ container { withMountedVolume(path: "/m", volume: "v") { id } } }'
    async with httpx.AsyncClient(auth=(fake_engine.token, "")) as client:
        answer = await client.post(fake_engine.url, json={"query": query})
    assert answer.status_code == 422
    assert "withMountedVolume" in answer.json()["errors"][0]["message"]
    fake_engine.invalid_queries.clear()  # expected here; the fixture fails on any other


async def test_exec_failure_raises_exec_error(fake_engine: FakeEngine) -> None:
    fake_engine.fail_exec(
        lambda args: "pytest" in args, exit_code=2, stdout="1 failed", stderr="AssertionError"
    )

    async with dagger.connection():
        base = dag.container().from_("python:3.11-slim")
        assert await base.with_exec(["ruff", "check"]).stdout() == ""
        with pytest.raises(dagger.ExecError) as caught:
            await base.with_exec(["pytest", "-q"]).with_exec(["echo", "after"]).stdout()
        code = await base.with_exec(["pytest"], expect=dagger.ReturnType.ANY).exit_code()

    err = caught.value
    assert err.exit_code == 2
    assert err.command == ["pytest", "-q"]
    assert err.stdout == "1 failed"
    assert err.stderr == "AssertionError"
    assert str(err) == 'process "pytest -q" did not complete successfully: exit code: 2'
    assert err.error.path == ["container", "from", "withExec", "withExec", "stdout"]
    assert code == 2


async def test_exec_error_response_shape(fake_engine: FakeEngine) -> None:
    fake_engine.fail_exec(lambda args: args[:1] == ["false"], stderr="nope")
    query = '{ container { from(address: "alpine") { withExec(args: ["false"]) { sync } } } }'
    async with httpx.AsyncClient(auth=(fake_engine.token, "")) as client:
        response = await client.post(fake_engine.url, json={"query": query})

    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["path"] == ["container", "from", "withExec", "sync"]
    assert error["extensions"] == {
        "_type": "EXEC_ERROR",
        "cmd": ["false"],
        "exitCode": 1,
        "stdout": "",
        "stderr": "nope",
    }


async def test_invalid_queries_are_rejected_and_recorded(fake_engine: FakeEngine) -> None:
    async with httpx.AsyncClient(auth=(fake_engine.token, "")) as client:
        misspelt = await client.post(fake_engine.url, json={"query": "{ container { frm } }"})
        broken = await client.post(fake_engine.url, json={"query": "{ container {"})
        valid = await client.post(fake_engine.url, json={"query": "{ version }"})

    assert misspelt.status_code == broken.status_code == 422
    assert "frm" in misspelt.json()["errors"][0]["message"]
    assert valid.json() == {"data": {"version": "v0.21.8"}}
    assert [q.query for q in fake_engine.invalid_queries] == [
        "{ container { frm } }",
        "{ container {",
    ]
    fake_engine.invalid_queries.clear()  # expected here; the fixture fails on any left over


async def test_concurrent_requests_overlap(fake_engine: FakeEngine) -> None:
    fake_engine.delay("Container.stdout", 0.3)

    async with dagger.connection():
        base = dag.container().from_("alpine")
        await asyncio.gather(base.with_exec(["test"]).stdout(), base.with_exec(["scan"]).stdout())

    first, second = fake_engine.leaves("Container.stdout")
    assert first.overlaps(second)
    assert first.ended - first.started >= 0.3


async def test_wrong_token_is_rejected(
    fake_engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with httpx.AsyncClient() as client:
        wrong = await client.post(
            fake_engine.url, json={"query": "{ version }"}, auth=("not-the-token", "")
        )
        missing = await client.post(fake_engine.url, json={"query": "{ version }"})
    assert wrong.status_code == missing.status_code == 401

    monkeypatch.setenv("DAGGER_SESSION_TOKEN", "not-the-token")
    with anyio.fail_after(10), pytest.raises(dagger.ClientConnectionError, match="401"):
        async with dagger.connection(dagger.Config(retry=None)):
            pass
    assert fake_engine.queries == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_no_engine_fails_fast_offline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dagger.provisioning._download import Downloader

    for name in (
        "DAGGER_SESSION_PORT",
        "DAGGER_SESSION_TOKEN",
        "_EXPERIMENTAL_DAGGER_CLI_BIN",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached CLI to start
    monkeypatch.setattr(Downloader, "CLI_BASE_URL", f"http://127.0.0.1:{closed_port()}")

    with anyio.fail_after(10), pytest.raises(dagger.DownloadError) as caught:
        async with dagger.connection():
            pass
    assert isinstance(caught.value, dagger.DaggerError)


async def test_engine_stops_and_frees_its_port(dagger_schema_path: Path) -> None:
    with FakeEngine(dagger_schema_path) as engine:
        url = engine.url
        async with httpx.AsyncClient(auth=(engine.token, "")) as client:
            assert (await client.post(url, json={"query": "{ version }"})).status_code == 200
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.post(url, json={"query": "{ version }"})
