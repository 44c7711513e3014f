"""How a release proves which build answers: the commit in a field of the health answer, or
the image's OCI revision label. Pure."""

from __future__ import annotations

from pydantic import JsonValue

from shipyard.declaration import Identity

REVISION_LABEL = "org.opencontainers.image.revision"


def identity_problem(
    identity: Identity, commit: str, *, answer: JsonValue = None, revision: str | None = None,
    where: str = "the health answer",
) -> str | None:
    """What says this is not `commit`'s build: `answer` is the decoded health answer
    (health-json), `revision` the image's revision label (revision-label); None: it is."""
    if identity.source == "health-json":
        reported = answer.get(identity.field) if isinstance(answer, dict) else None
        if reported == commit:
            return None
        return (f"{where} reports {identity.field} {reported!r}, not {commit[:12]}: the image "
                "was not built from this commit")
    if revision is None or not revision.strip():
        return (f"the image has no {REVISION_LABEL} label: set it from the COMMIT build "
                "argument in the Dockerfile's final stage (ARG COMMIT, then "
                f'LABEL {REVISION_LABEL}="${{COMMIT}}")')
    if revision != commit:
        return (f"the image's {REVISION_LABEL} label is {revision!r}, not {commit[:12]}: the "
                "image was not built from this commit")
    return None
