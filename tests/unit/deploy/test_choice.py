"""The strategy a deploy uses for what the app folder holds (deploy/choice.py), as a table."""

from __future__ import annotations

import pytest

from deploy.choice import AUTO, Choice, Folder, choose, hint_text

EMPTY = Folder()
LAID_OUT = Folder(blue_green=True)
RUNNING = Folder(in_use=True)
RUNNING_HINTED = Folder(in_use=True, hinted=True)
OTHER_FILE = Folder(refused="expected exactly one service `api`, found ['api', 'db']")
OTHER_FILE_HINTED = Folder(refused="no", hinted=True)
OTHER_RUNNING = Folder(in_use=True, refused="no")


@pytest.mark.parametrize(
    ("setting", "folder", "expected"),
    [
        # unset: blue-green from the first deploy, recreate kept where it runs (a hint, once)
        (AUTO, EMPTY, Choice("blue-green", set_up=True)),
        (AUTO, LAID_OUT, Choice("blue-green")),
        (AUTO, RUNNING, Choice("recreate", hint=True)),
        (AUTO, RUNNING_HINTED, Choice("recreate")),
        (AUTO, OTHER_FILE, Choice("recreate", hint=True)),
        (AUTO, OTHER_FILE_HINTED, Choice("recreate")),
        (AUTO, OTHER_RUNNING, Choice("recreate", hint=True)),
        # recreate, asked for: never set up, never hinted, whatever the folder holds
        ("recreate", EMPTY, Choice("recreate")),
        ("recreate", RUNNING, Choice("recreate")),
        ("recreate", LAID_OUT, Choice("recreate")),
        # blue-green or canary, asked for: an empty folder is set up; one in use is left to the
        # strategy, which refuses it naming `init` (it is never converted by `up`)
        ("blue-green", EMPTY, Choice("blue-green", set_up=True)),
        ("blue-green", LAID_OUT, Choice("blue-green")),
        ("blue-green", RUNNING, Choice("blue-green")),
        ("blue-green", OTHER_FILE, Choice("blue-green", set_up=True)),  # init then refuses it
        ("canary", EMPTY, Choice("canary", set_up=True)),
        ("canary", LAID_OUT, Choice("canary")),
        ("canary", RUNNING_HINTED, Choice("canary")),
    ],
)
def test_the_choice_for_each_folder(setting: str, folder: Folder, expected: Choice) -> None:
    assert choose(setting, folder) == expected


@pytest.mark.parametrize("folder", [EMPTY, LAID_OUT, RUNNING, OTHER_FILE, OTHER_RUNNING])
@pytest.mark.parametrize("setting", [AUTO, "recreate", "blue-green", "canary"])
def test_up_never_converts_a_folder_in_use(setting: str, folder: Folder) -> None:
    choice = choose(setting, folder)
    assert not (choice.set_up and folder.in_use)
    assert not (choice.hint and setting != AUTO)  # only an unset setting explains itself
    assert choice.strategy == ("recreate" if setting == "recreate" else choice.strategy)


def test_the_hint_names_init_and_how_to_silence_it() -> None:
    text = hint_text(RUNNING, environment="staging", prefix="STAGING", app_path="/srv/app")
    assert "/srv/app already runs with recreate" in text
    assert "`python -m deploy staging init`" in text
    assert "STAGING_STRATEGY=recreate" in text
    refused = hint_text(OTHER_FILE, environment="staging", prefix="STAGING", app_path="/srv/app")
    assert "found ['api', 'db']" in refused
    assert "init`" not in refused
    both = hint_text(OTHER_RUNNING, environment="staging", prefix="STAGING", app_path="/a")
    assert "init refuses it: no" in both
