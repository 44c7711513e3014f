"""One module per pipeline stage: lazy Dagger builders and one `async run(ctx) -> detail`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ci.plan import Stage
from ci.stages import build, deploy, loadtest, promote, publish, scan, smoke, test
from ci.stages.context import StageContext

StageRun = Callable[[StageContext], Awaitable[str]]

RUNS: dict[Stage, StageRun] = {
    Stage.BUILD: build.run,
    Stage.SMOKE: smoke.run,
    Stage.TEST: test.run,
    Stage.SCAN: scan.run,
    Stage.PUBLISH: publish.run,
    Stage.PROMOTE: promote.run,
    Stage.DEPLOY: deploy.run,
    Stage.LOADTEST: loadtest.run,
}
