"""`python -m loadtest --url URL ...`: run the gate in this process, print one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from loadtest.config import add_flags, resolve
from loadtest.errors import ConfigError, TargetError
from loadtest.profile import Profile
from loadtest.report import numbers_text, summary_line
from loadtest.thresholds import EXIT_ERROR, EXIT_USAGE
from shipyard.declaration import find_declaration, read_declaration
from shipyard.errors import DeclarationError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Load the service with the paths its declaration names (shipyard.toml's "
        "load.paths, found from the working folder up), judge it against k6-style thresholds "
        "and print one JSON summary line. Exit codes: 0 passed, 1 error (unreachable, nothing "
        "measured), 2 bad flag, variable or declaration, 10 failure ratio, "
        "11 p95, 12 p99 (the lowest breached code; the line lists them all).",
    )
    add_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = resolve(vars(args), os.environ)
        declared = read_declaration(find_declaration(Path.cwd()))
    except (ConfigError, DeclarationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    config = replace(config, profile=Profile.declared(declared))
    from loadtest.run import load_test  # patches this process with gevent: only here

    try:
        record = load_test(config)
    except TargetError as error:
        print(json.dumps({"url": config.url, "passed": False, "exit_code": EXIT_ERROR,
                          "verdict": f"error: {error}"}))
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(summary_line(record))
    print(f"load test: {numbers_text(record)}; {record['verdict']}", file=sys.stderr)
    return int(record["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
