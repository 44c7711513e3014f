"""Blue-green on the rig: a local nginx image, and rig-only app variants (slow, SSE, sour)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from tests.rig.docker import image_label
from tests.rig.fixtures import rig_part
from tests.rig.images import (
    APP_REPOSITORY,
    BuildAppImage,
    cache_dir,
    docker_build,
    dockerfile_tar,
)
from tests.rig.proc import file_lock, run
from tests.rig.registry import Registry

PROXY_IMAGE = "shipyard-rig/proxy:nginx"
PROXY_RECIPE = "1"  # bump when the Dockerfile below changes
RECIPE_LABEL = "org.shipyard.rig.proxy-recipe"


def ensure_proxy_image(base_image: str) -> str:
    """Debian's nginx on the rig's base (production images cannot be pulled here)."""
    with file_lock(cache_dir() / "proxy-image.lock"):
        key = f"{PROXY_RECIPE}-{base_image}"
        if image_label(PROXY_IMAGE, RECIPE_LABEL) == key:
            return PROXY_IMAGE
        dockerfile = (
            f"FROM {base_image}\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends nginx-light "
            "&& rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default "
            "&& mkdir -p /var/log/shipyard\n"
            'CMD ["nginx", "-g", "daemon off;"]\n'
            f'LABEL {RECIPE_LABEL}="{key}"\n'
        )
        docker_build(["--tag", PROXY_IMAGE], context_tar=dockerfile_tar(dockerfile))
    return PROXY_IMAGE


# The product's app plus routes only the rig needs: a slow request, a server-sent event
# stream, and (LAB_SOUR=1) 500 on every path but /health: healthy, yet failing its users;
# (LAB_FLAKY=1) 500 to every 20th request (5 %): a canary that must not pass its step;
# (LAB_EXIT_AFTER=N) the process dies (exit 3, no answer) on its Nth request but /health, as a
# crashing release does; compose's `restart: always` brings it back, and it dies again.
# Streams end the way a user's app should: on SIGTERM (the drain's `compose stop`) they keep
# going for STREAM_GRACE seconds (under the drain timeout), then send `event: close` and
# return, so the chunked response ends with its last chunk before SIGKILL. uvicorn waits for
# open responses before its lifespan shutdown, so the signal itself must start the grace.
LAB_SERVER = """\
import asyncio, contextlib, os
import uvicorn
from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from app.main import create_app

STREAM_GRACE = float(os.environ.get("STREAM_GRACE", "2"))
app = create_app()
closing = asyncio.Event()

class Server(uvicorn.Server):
    async def serve(self, sockets=None):
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig, frame):
        self.loop.call_soon_threadsafe(self.loop.call_later, STREAM_GRACE, closing.set)
        super().handle_exit(sig, frame)

@app.get("/slow")
async def slow(seconds: float = 1.0) -> dict[str, object]:
    await asyncio.sleep(seconds)
    return {"slept": seconds, "version": os.environ.get("APP_VERSION")}

@app.get("/events")
async def events() -> StreamingResponse:
    async def ticks():
        n = 0
        while not closing.is_set():
            yield f"data: {n} {os.environ.get('APP_VERSION')}\\n\\n"
            n += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(closing.wait(), 0.2)
        yield "event: close\\ndata: server shutting down\\n\\n"
    return StreamingResponse(ticks(), media_type="text/event-stream")

if os.environ.get("LAB_SOUR") == "1":
    @app.middleware("http")
    async def sour(request: Request, call_next):
        if request.url.path == "/health":
            return await call_next(request)
        return JSONResponse({"error": "sour on purpose"}, status_code=500)

if os.environ.get("LAB_FLAKY") == "1":  # every 20th request but /health answers 500: 5 %
    answered = [0]

    @app.middleware("http")
    async def flaky(request: Request, call_next):
        if request.url.path == "/health":
            return await call_next(request)
        answered[0] += 1
        if answered[0] % 20 == 0:
            return JSONResponse({"error": "flaky on purpose"}, status_code=500)
        return await call_next(request)

EXIT_AFTER = int(os.environ.get("LAB_EXIT_AFTER") or 0)
if EXIT_AFTER:
    served = [0]

    @app.middleware("http")
    async def crash(request: Request, call_next):
        if request.url.path != "/health":
            served[0] += 1
            if served[0] >= EXIT_AFTER:
                os._exit(3)  # mid-request: the proxy sees the connection closed unanswered
        return await call_next(request)

config = uvicorn.Config(app, host=os.environ.get("HOST", "127.0.0.1"),
                        port=int(os.environ.get("PORT", "8000")))
Server(config).run()
"""


@dataclass(slots=True)
class LabImages:
    """build(version, sour=False, flaky=False, exit_after=0) → a pushed app image with the lab
    routes (exit_after=N: its process dies on every Nth request but /health)."""

    build_app_image: BuildAppImage
    registry: str
    built: dict[tuple[str, bool, bool, int], str] = field(default_factory=dict)

    def __call__(
        self, version: str, *, sour: bool = False, flaky: bool = False, exit_after: int = 0
    ) -> str:
        key = (version, sour, flaky, exit_after)
        if key not in self.built:
            self.built[key] = self._build(*key)
        return self.built[key]

    def _build(self, version: str, sour: bool, flaky: bool, exit_after: int) -> str:
        good = self.build_app_image(version)
        entrypoint = json.dumps(["python3", "/app/lab.py"])
        dockerfile = (
            f"FROM {good}\nCOPY lab.py /app/lab.py\n"
            f"ENV LAB_SOUR={'1' if sour else '0'} LAB_FLAKY={'1' if flaky else '0'} "
            f"LAB_EXIT_AFTER={exit_after}\n"
            f"ENTRYPOINT {entrypoint}\nCMD []\n"
        )
        local = f"shipyard-rig/lab:{version}"
        docker_build(["--tag", local], context_tar=dockerfile_tar(dockerfile,
                                                                    {"lab.py": LAB_SERVER}))
        ref = f"{self.registry}/{APP_REPOSITORY}:{version}-lab"
        run(["docker", "tag", local, ref])
        run(["docker", "push", ref], timeout=600)
        return ref


@pytest.fixture(scope="session")
def proxy_image(base_image: str) -> str:
    """The rig's nginx image (built once; cached across sessions by its recipe label)."""
    return rig_part("the proxy image", lambda: ensure_proxy_image(base_image))


@pytest.fixture(scope="session")
def lab_image(build_app_image: BuildAppImage, registry: Registry) -> LabImages:
    """lab_image(version, sour=False, flaky=False) → "127.0.0.1:5000/shipyard/app:VERSION-lab"."""
    return LabImages(build_app_image, registry.address)
