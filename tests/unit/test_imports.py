"""The code's shape: no import circles module by module, and pyproject's import contracts
(deploy's layers, pure modules, the deployer as a library) all kept."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ci", "deploy", "loadtest", "supply")


def import_circles(imports: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every group of modules that import each other in a circle (Tarjan's strongly connected
    components of more than one module, or a module importing itself), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in imports.get(module, ()):
                circles.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return sorted(circles)


def project_imports() -> dict[str, set[str]]:
    """Module → the project modules it imports, TYPE_CHECKING imports included."""
    graph = grimp.build_graph(*PACKAGES)
    return {module: set(graph.find_modules_directly_imported_by(module))
            for module in graph.modules}  # fmt: skip


@pytest.mark.parametrize(
    ("imports", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"a"}}, [["a"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"x": {"y"}, "y": {"x"}, "p": {"q"}, "q": {"p"}, "z": {"x", "p"}},
         [["p", "q"], ["x", "y"]]),
    ],
)
def test_import_circles_are_found(
    imports: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert import_circles(imports) == expected


def test_a_circle_added_to_a_real_package_is_caught(tmp_path: Path) -> None:
    """The same graph builder that reads ci/deploy/loadtest sees a circle hidden behind
    TYPE_CHECKING (the shape deploy's strategies and deployer once had)."""
    package = tmp_path / "circled"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "deployer.py").write_text("from circled.strategy import Strategy\n")
    (package / "strategy.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from circled.deployer import Deployer\n"
        "class Strategy: ...\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("circled", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert import_circles(imports) == [["circled.deployer", "circled.strategy"]]


def test_no_import_circles_in_ci_deploy_or_loadtest() -> None:
    circles = import_circles(project_imports())
    assert not circles, (
        "these modules import each other in a circle; move what both need into a module "
        "below them (see docs/architecture.md):\n"
        + "\n".join(" ↔ ".join(circle) for circle in circles)
    )


def test_import_contracts_are_kept() -> None:
    """pyproject's [tool.importlinter] contracts: deploy's layers, pure modules, no circles
    between siblings, the deployer never importing the pipeline."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
