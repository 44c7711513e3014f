"""`python -m deploy ENV render --target kubernetes`: writes what deploy.render returns."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from deploy.errors import InvalidInput
from deploy.render import documents
from deploy.render.kubernetes import KubernetesSettings, Manifests, kubernetes_manifests
from shipyard.declaration import find_declaration, read_declaration
from shipyard.errors import DeclarationError

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
SCHEMA = 1
TARGETS = ("kubernetes",)


def add_render(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `render` subcommand, added to the CLI's subcommands."""
    render = commands.add_parser(
        "render", help="write manifests for an orchestrator; reaches no host, applies nothing")
    render.add_argument("--target", required=True, choices=TARGETS,
                        help="what to render for (kubernetes: Deployment, Service, PDB)")
    render.add_argument("--image", required=True,
                        help="the image, pinned by digest: REPOSITORY[:TAG]@sha256:<digest>")
    render.add_argument("--replicas", type=int, default=2, help="how many pods (default 2)")
    render.add_argument("--out", default="-",
                        help="a folder to write one file per object into; - (the default) "
                             "prints one multi-document stream")  # fmt: skip
    render.add_argument("--json", action="store_true",
                        help=f"print one JSON object (schema {SCHEMA}, see docs/deploy.md)")


def render(args: argparse.Namespace, out: Console, err: Console, cwd: Path | None = None) -> int:
    """0 rendered, 2 refused (unpinned image, bad declaration or flag), 1 writing failed."""
    try:
        declaration = read_declaration(find_declaration(cwd or Path.cwd()))
        settings = KubernetesSettings(args.environment, args.image, args.replicas)
        manifests = kubernetes_manifests(declaration, settings)
        folder = None if args.out == "-" else check_folder(Path(args.out))
    except (InvalidInput, DeclarationError) as error:
        return failed(args, error, EXIT_REFUSED, out, err)
    for note in manifests.notes:
        err.print(f"· note: {note}")
    written: list[str] = []
    if folder is None and not args.json:
        out.out(documents.stream(args.environment, manifests.objects), end="")
        return EXIT_OK
    if folder is not None:
        try:
            written = write(folder, documents.files(args.environment, manifests.objects))
        except OSError as error:
            return failed(args, error, EXIT_FAILED, out, err)
    if args.json:
        out.print_json(json.dumps(result(args, True, None, manifests, written)))
    else:
        for path in written:
            out.print(f"{args.environment}: wrote {path}")
    return EXIT_OK


def check_folder(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"--out {str(folder)!r} is a file, not a folder: name a folder "
                           "(it is created if missing), or - to print.")  # fmt: skip
    return folder


def write(folder: Path, texts: dict[str, str]) -> list[str]:
    """Each file written whole (a temporary file renamed over it); the paths, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        path = folder / name
        partial = path.with_name(f".{name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        written.append(str(path))
    return written


def result(
    args: argparse.Namespace, ok: bool, error: str | None, manifests: Manifests | None,
    written: list[str],
) -> dict[str, Any]:
    """{schema, command, environment, ok, error, target, image, files, manifests, notes}."""
    return {
        "schema": SCHEMA, "command": "render", "environment": args.environment, "ok": ok,
        "error": error, "target": args.target, "image": args.image, "files": written,
        "manifests": list(manifests.objects) if manifests else [],
        "notes": list(manifests.notes) if manifests else [],
    }  # fmt: skip


def failed(
    args: argparse.Namespace, error: Exception, code: int, out: Console, err: Console
) -> int:
    err.print(f"error: {error}")
    if args.json:
        out.print_json(json.dumps(result(args, False, str(error), None, [])))
    return code
