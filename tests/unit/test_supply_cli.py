"""`ci/main.py verify|sbom` without a registry: keys, references and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.main import main
from ci.supply_commands import UsageError, keys_from
from tests.unit.supply.keyfiles import ed25519_pair, p256_pair

DIGEST = "sha256:" + "ab" * 32


def test_keys_from_flags_or_verify_key(tmp_path: Path) -> None:
    (_, one), (_, two) = ed25519_pair(), p256_pair()
    (tmp_path / "one.pem").write_text(one)
    (tmp_path / "two.pem").write_text(two)
    flags = keys_from([str(tmp_path / "one.pem"), str(tmp_path / "two.pem")], {}, True)
    text = keys_from(None, {"VERIFY_KEY": one + two}, True)
    paths = keys_from(None, {"VERIFY_KEY": f"{tmp_path}/one.pem,{tmp_path}/two.pem"}, True)
    assert flags is not None
    assert len(flags) == 2
    assert flags == text == paths
    assert keys_from(None, {}, False) is None


@pytest.mark.parametrize(("paths", "environ", "words"), [
    (None, {}, "pass --key FILE"),
    (["/nowhere.pem"], {}, "--key: /nowhere.pem cannot be read"),
    (None, {"VERIFY_KEY": "/nowhere.pem"}, "VERIFY_KEY: /nowhere.pem cannot be read"),
])
def test_no_usable_key_is_a_usage_error(paths: list[str] | None, environ: dict[str, str],
                                        words: str) -> None:
    with pytest.raises(UsageError, match=words):
        keys_from(paths, environ, True)


def test_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k.pem"
    key.write_text(ed25519_pair()[1])
    monkeypatch.delenv("VERIFY_KEY", raising=False)
    assert main(["verify", f"app@{DIGEST}", "--key", str(key)]) == 2
    assert "REGISTRY/REPOSITORY" in capsys.readouterr().err
    assert main(["verify", f"127.0.0.1:1/o/app@{DIGEST}", "--key", str(key)]) == 1
    assert "Is the registry reachable?" in capsys.readouterr().err
    assert main(["sbom", f"127.0.0.1:1/o/app@{DIGEST}"]) == 1


def test_a_signing_key_that_is_not_one_refuses_the_run_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ci.settings import SettingsError, load_settings

    broken = ed25519_pair()[0].replace("M", "#")
    with pytest.raises(SettingsError, match="SIGNING_KEY is not an unencrypted PEM") as caught:
        load_settings({"SIGNING_KEY": broken}, Path("."))
    assert broken.splitlines()[1] not in str(caught.value)
    good = ed25519_pair()[0]
    settings = load_settings({"SIGNING_KEY": good}, Path("."))
    assert settings.signing_key is not None
    assert good.splitlines()[1] in settings.secrets()  # scrubbed from every output
    assert "PRIVATE" not in repr(settings)
