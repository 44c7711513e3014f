"""A bounded load loop for canary tests, in a process of its own: N GETs through the proxy on
127.0.0.1, then one JSON line of answers per version and per status.

    python -m tests.integration.canary_load 2000 [--path /version]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter

import httpx

PUBLIC = "http://127.0.0.1:8000"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("requests", type=int)
    parser.add_argument("--path", default="/version")
    args = parser.parse_args(argv)
    if not 0 < args.requests <= 100_000:
        parser.error("between 1 and 100000 requests")
    versions: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    with httpx.Client(base_url=PUBLIC, timeout=5, trust_env=False) as client:
        for _ in range(args.requests):
            try:
                response = client.get(args.path)
            except httpx.HTTPError as error:
                statuses[type(error).__name__] += 1
                continue
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                versions[str(response.json().get("version"))] += 1
    print(json.dumps({"versions": versions, "statuses": statuses}))
    return 0


def load(requests: int, path: str = "/version") -> tuple[Counter[str], Counter[str]]:
    """Run the loop in a subprocess; (answers per version, answers per status)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.canary_load", str(requests), "--path", path],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Counter(data["versions"]), Counter(data["statuses"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
