"""The documentation and the code in step: settings, variables, commands, flags and links."""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypeVar, overload

import pytest

from ci.context import detect_context
from ci.main import build_parser as ci_parser
from ci.plan import Stage
from ci.settings import load_settings
from ci.stages.loadtest import gate_config
from deploy import config
from deploy.cli.main import build_parser as deploy_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = (ROOT / "README.md", *sorted(DOCS.glob("*.md")))
DEPLOY_PAGE = DOCS / "deploy.md"
PIPELINE_PAGE = DOCS / "pipeline.md"
HOSTS_PAGE = DOCS / "several-hosts.md"

PREFIXED = re.compile(r"(?:<ENV>|STAGING|PRODUCTION)_([A-Z][A-Z0-9_]*[A-Z0-9])")
BACKTICKED_NAME = re.compile(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
T = TypeVar("T")


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def prose_lines(page: Path) -> Iterator[str]:
    """The page's lines outside fenced code blocks."""
    fenced = False
    for line in text(page).splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def tables(page: Path) -> Iterator[list[list[str]]]:
    """Each table of the page as rows of cells, the header row first (the rule dropped)."""
    rows: list[list[str]] = []
    for line in [*prose_lines(page), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):
                rows.append(cells)
        elif rows:
            yield rows
            rows = []


class Recorder(Mapping[str, str]):
    """An environment that remembers which variables were asked for with `get` or `in`."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.known = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        return self.known[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return key in self.known

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: T, /) -> str | T: ...
    def get(self, key: str, default: object = None, /) -> object:
        self.asked.add(key)
        return self.known.get(key, default)


# -- the deployer's <ENV>_* settings -------------------------------------------------------

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def host(prefix: str, **extra: str) -> dict[str, str]:
    base = {"HOST": "203.0.113.7", "USERNAME": "deploy", "SSH_KEY": KEY,
            "KNOWN_HOSTS": "203.0.113.7 ssh-ed25519 AAAA", "APP_PATH": "/srv/app", **extra}
    return {f"{prefix}_{key}": value for key, value in base.items()}


CONFIGURATIONS = (
    ("staging", host("STAGING")),
    ("staging", host("STAGING", STRATEGY="blue-green", COLOUR_PORTS="8101/8102",
                     PROXY_LISTEN="8100")),
    ("staging", host("STAGING", STRATEGY="canary", CANARY_STEPS="10,100")),
    ("production", host("PRODUCTION", EVIDENCE_LOAD_GATE="required")),
    ("staging", {**{k: v for k, v in host("STAGING").items() if k != "STAGING_HOST"},
                 "STAGING_HOSTS": "web1, web2:2222 APP_PATH=/srv/b", "STAGING_PARALLEL": "1"}),
)  # fmt: skip


def settings_read_at_run_time() -> set[str]:
    """The `<ENV>_` keys `load_fleet` asks the environment for, over several configurations
    (one host, several, each strategy, production with evidence and its source)."""
    keys: set[str] = set()
    for environment, values in CONFIGURATIONS:
        environ = Recorder(values)
        fleet = config.load_fleet(environment, environ)
        if fleet.targets[0].evidence.source:
            config.load_fleet(fleet.targets[0].evidence.source, Recorder(host("STAGING")))
        keys |= {asked.split("_", 1)[1] for asked in environ.asked}
    return keys


def settings_in_the_source() -> set[str]:
    """Every string literal passed as the `key` of a `_Reader` method in deploy/config.py,
    and the per-host overrides `<ENV>_HOSTS` entries may set."""
    methods = {
        method for method, function in inspect.getmembers(config._Reader, inspect.isfunction)
        if list(inspect.signature(function).parameters)[1:2] == ["key"]
    }  # fmt: skip
    tree = ast.parse(Path(config.__file__).read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in methods and node.args
        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
    } | set(config.HOST_SETTINGS)  # fmt: skip


def deployer_settings() -> set[str]:
    found = settings_read_at_run_time()
    assert {"HOST", "HOSTS", "APP_PATH", "CANARY_STEPS", "EVIDENCE_FROM"} <= found
    return found | settings_in_the_source()


def settings_table() -> set[str]:
    """The `<ENV>_KEY` rows of the settings table in docs/deploy.md."""
    return {
        match.group(1)
        for table in tables(DEPLOY_PAGE) if table[0][0] == "variable"
        for row in table[1:] if (match := PREFIXED.fullmatch(row[0].strip("`")))
    }  # fmt: skip


def test_every_setting_the_deployer_reads_is_in_the_settings_table() -> None:
    documented = settings_table()
    for key in sorted(deployer_settings()):
        assert key in documented, (
            f"the deployer reads <ENV>_{key} (deploy/config.py) but {name(DEPLOY_PAGE)}'s "
            f"settings table has no `<ENV>_{key}` row: add it (default and meaning).")


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_setting_the_docs_name_is_read_by_the_deployer(page: Path) -> None:
    read = deployer_settings()
    for match in PREFIXED.finditer(text(page)):
        assert match.group(1) in read, (
            f"{name(page)} names {match.group(0)}, which deploy/config.py does not read: "
            "fix the page (or the name).")


def test_the_per_host_overrides_are_documented_and_real() -> None:
    named = set(re.findall(r"`([A-Z][A-Z0-9_]*)=", text(HOSTS_PAGE)))
    for key in config.HOST_SETTINGS:
        assert key in named, (
            f"<ENV>_HOSTS entries accept {key}= (deploy/config.py HOST_SETTINGS) but "
            f"{name(HOSTS_PAGE)} does not name `{key}=`: add it.")
    unknown = sorted(named - set(config.HOST_SETTINGS))
    assert not unknown, (f"{name(HOSTS_PAGE)} names {unknown} as per-host overrides "
                         "(`KEY=`); deploy/config.py HOST_SETTINGS does not accept them: fix "
                         "the page.")


# -- the pipeline's variables --------------------------------------------------------------

ENVIRON_EXPRESSIONS = {"os.environ", "environ", "env"}


def is_environ(node: ast.AST) -> bool:
    return ast.unparse(node) in ENVIRON_EXPRESSIONS


def literal_names(nodes: list[ast.expr]) -> set[str]:
    return {node.value for node in nodes if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", node.value)}


def variables_in_ci_source() -> set[str]:
    """Names read from the environment in ci/: `environ.get("X")`, `environ["X"]`,
    `"X" in environ`, and helpers called with the environment and a literal name."""
    found: set[str] = set()
    for path in sorted((ROOT / "ci").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "get" \
                        and is_environ(func.value):
                    found |= literal_names(node.args[:1])
                elif any(is_environ(arg) for arg in node.args):
                    found |= literal_names(node.args)
            elif isinstance(node, ast.Subscript) and is_environ(node.value):
                found |= literal_names([node.slice])
            elif isinstance(node, ast.Compare) and any(
                isinstance(op, ast.In) for op in node.ops
            ) and any(is_environ(right) for right in node.comparators):  # fmt: skip
                found |= literal_names([node.left])
    return found


def variables_read_at_run_time() -> set[str]:
    """What the pipeline's settings, context and load gate ask the environment for."""
    asked: set[str] = set()
    for values in ({}, {"GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "1"}):
        environ = Recorder(values)
        load_settings(environ, ROOT)
        asked |= environ.asked
    environ = Recorder({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/main",
                        "GITHUB_SHA": "0" * 40})  # fmt: skip
    detect_context(environ)
    asked |= environ.asked
    environ = Recorder({"LOADTEST_URL": "http://127.0.0.1:8000"})
    gate_config(environ, ROOT / "reports")
    return asked | environ.asked


def pipeline_variables() -> set[str]:
    found = variables_read_at_run_time()
    assert {"REGISTRY", "GITHUB_REF", "LOADTEST_URL", "LOADTEST_P95_MS"} <= found
    return found | variables_in_ci_source()


def documented_pipeline_variables() -> set[str]:
    """The names in the `variable` column of docs/pipeline.md's tables."""
    documented: set[str] = set()
    for table in tables(PIPELINE_PAGE):
        if "variable" in table[0]:
            column = table[0].index("variable")
            for row in table[1:]:
                documented |= set(BACKTICKED_NAME.findall(row[column]))
    return documented


def test_every_variable_the_pipeline_reads_is_documented() -> None:
    documented = documented_pipeline_variables()
    for variable in sorted(pipeline_variables()):
        assert variable in documented, (
            f"ci/ reads {variable} but no `variable` column of {name(PIPELINE_PAGE)}'s tables "
            "names it: add it to the pipeline variables table.")


def test_every_documented_pipeline_variable_is_read() -> None:
    read = pipeline_variables()
    for variable in sorted(documented_pipeline_variables()):
        assert variable in read, (
            f"{name(PIPELINE_PAGE)} documents {variable} as a pipeline variable, but ci/ does "
            "not read it: remove it from the table or fix its name.")


# -- the command lines ---------------------------------------------------------------------


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand name (aliases included) and its parser."""
    return {
        command: subparser
        for action in parser._actions if isinstance(action, argparse._SubParsersAction)
        for command, subparser in action.choices.items()
    }  # fmt: skip


def flags(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings
            if flag not in ("-h", "--help")]  # fmt: skip


def command_rows(page: Path) -> dict[str, str]:
    """The page's commands table: each row keyed by its command's first word."""
    return {
        row[0].strip("`").split()[0]: " | ".join(row)
        for table in tables(page) if table[0][0] == "command"
        for row in table[1:]
    }  # fmt: skip


CLIS = (  # how a command is typed, its parser, the page that documents it
    ("python -m deploy ENV", deploy_parser(), DEPLOY_PAGE),
    ("python ci/main.py", ci_parser("python ci/main.py"), PIPELINE_PAGE),
)


@pytest.mark.parametrize(("prog", "parser", "page"), CLIS, ids=[cli[0] for cli in CLIS])
def test_every_command_and_flag_of_the_cli_is_documented(
    prog: str, parser: argparse.ArgumentParser, page: Path
) -> None:
    rows = command_rows(page)
    for flag in flags(parser):
        assert f"`{flag}`" in text(page), (
            f"`{prog.removesuffix(' ENV')} --help` shows {flag}; {name(page)} does not name "
            "it: document it.")
    for command, subparser in subcommands(parser).items():
        row = rows.get(command) or next(
            (row for row in rows.values() if f"`{command}`" in row), None)
        assert row is not None, (
            f"`{prog} {command}` exists; {name(page)}'s commands table has no row "
            "for it: add one.")
        for flag in flags(subparser):
            assert f"`{flag}`" in row, (
                f"`{prog} {command} --help` shows {flag}; the {command} row of "
                f"{name(page)}'s commands table does not name it: add it.")


def shown_invocations(prog: str) -> Iterator[tuple[Path, list[str]]]:
    """Every `prog ...` shown in the pages (code blocks and code spans), as its words up to
    a comment or the end of the span."""
    for page in PAGES:
        for line in text(page).splitlines():
            for shown in line.split(prog)[1:]:
                words = re.split(r"[`#]", shown, maxsplit=1)[0].split()
                yield page, words


def test_every_deployer_command_shown_exists() -> None:
    parser = deploy_parser()
    commands = subcommands(parser)
    for page, words in shown_invocations("python -m deploy "):
        if len(words) < 2 or words[1].isupper():
            continue  # `python -m deploy ENV COMMAND`: a placeholder
        named = [word for word in words[1:] if word in commands]
        assert words[1] in commands, (
            f"{name(page)} shows `python -m deploy {' '.join(words)}`: {words[1]!r} is not a "
            f"command (there are {', '.join(commands)}).")
        known = {flag for command in named for flag in flags(commands[command])}
        for word in words[1:]:
            flag = word.strip("[]").split("=")[0]
            assert not flag.startswith("-") or flag in known, (
                f"{name(page)} shows `python -m deploy {' '.join(words)}`: {flag} is not a "
                f"flag of {words[1]}.")


def test_every_pipeline_command_shown_exists() -> None:
    parser = ci_parser("python ci/main.py")
    commands = subcommands(parser)
    known = {"--help", *flags(parser), *(flag for sub in commands.values() for flag in flags(sub))}
    words_allowed = {*commands, *(stage.value for stage in Stage)}
    for page, words in shown_invocations("python ci/main.py"):
        first = next((word for word in words if not word.startswith("-")), None)
        assert first is None or first in words_allowed or first.rstrip(".").isupper(), (
            f"{name(page)} shows `python ci/main.py {' '.join(words)}`: {first!r} is neither "
            "a command nor a stage.")
        for word in words:
            flag = word.strip("[]").split("=")[0]
            assert not flag.startswith("-") or flag in known, (
                f"{name(page)} shows `python ci/main.py {' '.join(words)}`: {flag} is not one "
                "of its flags.")


# -- links ---------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(page):
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            anchor, count = base, 0
            while anchor in found:
                count += 1
                anchor = f"{base}-{count}"
            found.add(anchor)
    return found


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_resolves(page: Path) -> None:
    for target in LINK.findall("\n".join(prose_lines(page))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{name(page)} links to {target}: {path} does not exist."
        if fragment and linked.suffix == ".md":
            assert fragment in anchors(linked), (
                f"{name(page)} links to {target}: {linked.name} has no heading with the "
                f"anchor #{fragment}.")
