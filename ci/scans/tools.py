"""The scanners as data: pinned images and versions, argv, report paths, exit-code meanings."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ci.scans.findings import Status, ToolRun
from shipyard.declaration import Scan

SRC = "/src"  # the repository, mounted with its .git
REPORTS = "/reports"  # every tool writes here; the stage exports the directory
RAW = f"{REPORTS}/raw"
AUDIT_VENV = "/audit-venv"
PROJECT = "shipyard"
SCANNED_CODE = tuple(Scan().code)  # the declaration's default

BANDIT_VERSION = "1.9.4"
PIP_AUDIT_VERSION = "2.10.1"
SAFETY_VERSION = "3.8.1"
GITLEAKS_VERSION = "8.28.0"
GITLEAKS_IMAGE = f"zricethezav/gitleaks:v{GITLEAKS_VERSION}"
GITLEAKS_LEAKS_EXIT = 3  # gitleaks itself exits 1 on errors, so leaks get their own code

SAFETY_KEY_ENV = "SAFETY_API_KEY"
SAFETY_SKIPPED = ToolRun(
    tool="safety",
    status=Status.SKIPPED,
    detail=f"{SAFETY_KEY_ENV} is not set: `safety scan` needs a Safety account key. "
    f"pip-audit still audited the dependencies; add the {SAFETY_KEY_ENV} secret to run Safety too.",
)


class Outcome(enum.StrEnum):
    """What an exit code says about a step, before its report is read."""

    CLEAN = "clean"
    FINDINGS = "findings"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ExitCodes:
    """Exit codes that mean "ran, nothing found" and "ran, found something"; others are errors.

    A code in `clean` or `findings` still needs a readable report: a Python tool that dies
    with a traceback also exits 1, and only a missing or broken report tells that apart.
    """

    clean: frozenset[int]
    findings: frozenset[int] = frozenset()

    def outcome(self, exit_code: int) -> Outcome:
        if exit_code in self.clean:
            return Outcome.CLEAN
        if exit_code in self.findings:
            return Outcome.FINDINGS
        return Outcome.ERROR


@dataclass(frozen=True, slots=True)
class Step:
    """One command in a scanner's container; `stdout_path` captures stdout into a file."""

    argv: tuple[str, ...]
    exit_codes: ExitCodes
    writes: tuple[str, ...] = ()
    stdout_path: str | None = None


@dataclass(frozen=True, slots=True)
class ScanTool:
    """Everything a stage needs to run one scanner in its own container.

    `install` commands run on `image` before the repository is mounted (so they are cached
    apart from any source change) and must exit 0; `steps` run in order in `workdir` with the
    repository at `SRC`; `report` is the file `ci.scans.parse.conclude` reads; `secret_env`
    is an environment variable to fill from a Dagger secret; `needs_git_history` means mount
    the whole repo with .git; `pip_cache` means mount the pip cache volume.
    """

    name: str
    version: str
    image: str
    install: tuple[tuple[str, ...], ...]
    steps: tuple[Step, ...]
    report: str
    workdir: str = SRC
    secret_env: str | None = None
    needs_git_history: bool = False
    pip_cache: bool = True


OK_ONLY = ExitCodes(clean=frozenset({0}))


def pip_install(*requirements: str) -> tuple[str, ...]:
    """pip with the cache volume the stage mounts (no --no-cache-dir: re-runs reuse wheels)."""
    return ("pip", "install", "--disable-pip-version-check", *requirements)


def bandit(python_image: str, code: Sequence[str] = SCANNED_CODE) -> ScanTool:
    """Bandit over the declared code folders (shipyard.toml's `scan.code`: the service and
    the pipeline by default), as JSON (parsed) and as bandit's own SARIF."""
    exits = ExitCodes(clean=frozenset({0}), findings=frozenset({1}))

    def run(fmt: str, path: str) -> Step:
        argv = ("bandit", "-r", *code, "-f", fmt, "-o", path, "-q")
        return Step(argv, exits, writes=(path,))

    return ScanTool(
        name="bandit",
        version=BANDIT_VERSION,
        image=python_image,
        install=(pip_install(f"bandit[sarif]=={BANDIT_VERSION}"),),
        steps=(run("json", f"{RAW}/bandit.json"), run("sarif", f"{RAW}/bandit.sarif")),
        report=f"{RAW}/bandit.json",
    )


def _frozen_project(tool: str) -> tuple[Step, ...]:
    """Install the project apart (after the source is mounted) and freeze what it pulled in."""
    frozen = f"{RAW}/{tool}-requirements.txt"
    return (
        Step(("python", "-m", "venv", AUDIT_VENV), OK_ONLY),
        Step((f"{AUDIT_VENV}/bin/pip", "install", "--disable-pip-version-check", SRC), OK_ONLY),
        Step((f"{AUDIT_VENV}/bin/pip", "freeze", "--exclude", PROJECT), OK_ONLY,
             writes=(frozen,), stdout_path=frozen),
    )  # fmt: skip


def pip_audit(python_image: str, locks: Sequence[str] = ()) -> ScanTool:
    """pip-audit over the hashed locks (container paths; hash-checking mode: every pin hashed),
    or, with none, over what installing the project pulls in (a freeze: pins without hashes,
    `--no-deps`)."""
    report = f"{RAW}/pip-audit.json"
    prepare: tuple[Step, ...] = ()
    if locks:
        inputs, closure = [arg for lock in locks for arg in ("-r", lock)], "--require-hashes"
    else:
        prepare = _frozen_project("pip-audit")
        inputs, closure = ["-r", str(prepare[-1].stdout_path)], "--no-deps"
    audit = Step(
        ("pip-audit", *inputs, closure, "--disable-pip", "-f", "json", "-o",
         report, "--progress-spinner", "off"),
        ExitCodes(clean=frozenset({0}), findings=frozenset({1})),
        writes=(report,),
    )  # fmt: skip
    return ScanTool(
        name="pip-audit",
        version=PIP_AUDIT_VERSION,
        image=python_image,
        install=(pip_install(f"pip-audit=={PIP_AUDIT_VERSION}"),),
        steps=(*prepare, audit),
        report=report,
    )


def safety(python_image: str, locks: Sequence[str] = ()) -> ScanTool:
    """`safety scan` over the locks (container paths, joined into one requirements file) or the
    frozen project; the key comes from SAFETY_API_KEY."""
    report = f"{RAW}/safety.json"
    target = "/safety-target"
    joined = f"{target}/requirements.txt"
    if locks:
        prepare: tuple[Step, ...] = (
            Step(("mkdir", "-p", target), OK_ONLY),
            Step(("cat", *locks), OK_ONLY, writes=(joined,), stdout_path=joined),
        )
    else:
        *install_project, freeze = _frozen_project("safety")
        prepare = (
            Step(("mkdir", "-p", target), OK_ONLY), *install_project,
            Step(freeze.argv, OK_ONLY, writes=(joined,), stdout_path=joined),
        )  # fmt: skip
    scan = Step(
        ("safety", "scan", "--target", target, "--save-as", "json", report),
        ExitCodes(clean=frozenset({0}), findings=frozenset({64})),
        writes=(report,),
    )
    return ScanTool(
        name="safety",
        version=SAFETY_VERSION,
        image=python_image,
        install=(pip_install(f"safety=={SAFETY_VERSION}"),),
        steps=(*prepare, scan),
        report=report,
        secret_env=SAFETY_KEY_ENV,
    )


def gitleaks() -> ScanTool:
    """Gitleaks over the whole git history, redacted, with the repo's config and ignore file."""
    report = f"{RAW}/gitleaks.json"
    argv = (
        "gitleaks", "git", SRC, "--redact", "--no-banner",
        "--config", f"{SRC}/.gitleaks.toml",
        "--gitleaks-ignore-path", f"{SRC}/.gitleaksignore",
        "--report-format", "json", "--report-path", report,
        "--exit-code", str(GITLEAKS_LEAKS_EXIT),
    )  # fmt: skip
    return ScanTool(
        name="gitleaks",
        version=GITLEAKS_VERSION,
        image=GITLEAKS_IMAGE,
        install=(),
        steps=(Step(argv, ExitCodes(frozenset({0}), frozenset({GITLEAKS_LEAKS_EXIT})), (report,)),),
        report=report,
        needs_git_history=True,
        pip_cache=False,
    )


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """The scanners to run in parallel, and those skipped with the reason the report shows."""

    tools: tuple[ScanTool, ...]
    skipped: tuple[ToolRun, ...]


def plan_scans(
    *,
    python_image: str,
    safety_key_set: bool,
    locks: Sequence[str] = (),
    skip: frozenset[str] = frozenset(),
    code: Sequence[str] = SCANNED_CODE,
) -> ScanPlan:
    """Every scanner but those in `skip`; Safety only when its key is set. Skipped tools are
    listed with the reason, and the report shows them as skipped, never as passed. `locks` are
    the hashed requirements files the dependency scanners read (container paths)."""
    tools = [bandit(python_image, code), pip_audit(python_image, locks), gitleaks()]
    skipped: list[ToolRun] = []
    if safety_key_set:
        tools.append(safety(python_image, locks))
    else:
        skipped.append(SAFETY_SKIPPED)
    for tool in [tool for tool in tools if tool.name in skip]:
        tools.remove(tool)
        skipped.append(ToolRun(tool.name, Status.SKIPPED,
                               detail=f"skipped by CI_SKIP_SCANS: {tool.name} did not run."))
    return ScanPlan(tuple(tools), tuple(skipped))
