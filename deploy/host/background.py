"""A task that runs beside a block and ends with it (the lock's lease, the watch's log)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import anyio


@asynccontextmanager
async def in_background(task: Callable[[], Coroutine[Any, Any, object]]) -> AsyncIterator[None]:
    """Run `task` while the block runs; leaving the block cancels it. An error the block
    raises comes out as it is, not wrapped in an ExceptionGroup."""
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(task)
        try:
            yield
        except Exception as error:
            failure = error
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
