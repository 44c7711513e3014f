"""The scan stage on a service that is not the demo, against the schema-validating fake engine:
tests/fixtures/template-service declares a uv.lock and no requirements file, and keeps no
allowlist."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagger
import pytest

from ci import main as ci_main
from ci.plan import plan_release
from ci.scans.locks import AUDIT_LOCK, uv_pins
from ci.settings import Settings
from ci.stages import scan
from ci.stages.context import StageContext
from shipyard.declaration import load_declaration
from tests.pipeline.fake_calls import Call
from tests.pipeline.fake_engine import FakeEngine

TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "template-service"
SHA = "0123456789abcdef0123456789abcdef01234567"
CLEAN = {
    "/reports/raw/bandit.json": json.dumps({"errors": [], "results": []}),
    "/reports/raw/pip-audit.json": json.dumps({"dependencies": [], "fixes": []}),
    "/reports/raw/gitleaks.json": "[]",
}


def clean_report(call: Call) -> str:
    file_call = call.find("file")
    return CLEAN.get(str(file_call.args["path"]) if file_call else "", "")


@pytest.mark.anyio
async def test_the_scan_stage_audits_the_declared_uv_lock_as_hashed_pins(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    root = tmp_path / "template-service"
    shutil.copytree(TEMPLATE, root)
    fake_engine.respond("File.contents", clean_report)
    settings = Settings(reports=tmp_path / "reports")
    ctx = StageContext(plan_release("refs/heads/develop", SHA, "push"), settings, root,
                       lambda _: None, source_date_epoch=0, declaration=load_declaration(root))
    async with dagger.connection():
        verdict = await scan.run(ctx)
    assert verdict.startswith("security gate passed")  # no allowlist: the default policy
    audits = [list(c.args["args"]) for c in fake_engine.calls("withExec")
              if c.args["args"][0] == "pip-audit"]
    assert audits
    assert all(a[1:4] == ["-r", AUDIT_LOCK, "--require-hashes"] for a in audits)
    mounted = [c for c in fake_engine.calls("withFile") if c.args["path"] == AUDIT_LOCK]
    images = {str(call.args["address"]) for c in mounted for call in c.chain
              if call.field == "from"}  # fmt: skip
    assert images == {settings.base_image}  # pip-audit's container (and Safety's), not gitleaks'
    generated = (tmp_path / "reports" / "scans" / "locked-requirements.txt").read_text()
    pins = uv_pins((TEMPLATE / "backend" / "uv.lock").read_text()).pins
    assert all(f"{pin.name}=={pin.version} \\" in generated for pin in pins)
    assert "backend/uv.lock" in generated.splitlines()[0]
    host_files = [str(c.args["path"]) for c in fake_engine.calls("file")
                  if c.type_name == "Host"]
    assert host_files == [str(tmp_path / "reports" / "scans" / "locked-requirements.txt")]


def test_a_declared_build_arg_the_pipeline_sets_is_refused_before_the_run(
    fake_engine: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    root = tmp_path / "template-service"
    shutil.copytree(TEMPLATE, root)
    declared = (root / "shipyard.toml").read_text()
    (root / "shipyard.toml").write_text(declared.replace(
        'target = "runtime"\n', 'target = "runtime"\nargs = { COMMIT = "mine" }\n'))
    monkeypatch.setattr(ci_main, "ROOT", root)
    assert ci_main.main(["--ref", "refs/heads/develop", "--sha", SHA, "build"]) == 2
    err = capsys.readouterr().err
    assert "shipyard.toml: build.args.COMMIT: is a build argument the pipeline sets itself" in err
    assert fake_engine.queries == []
