"""Running ``async def`` callables (call_llm, tools) from the engine's synchronous nodes."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["resolve"]


def resolve(result: Any) -> Any:
    """Await ``result`` if it is awaitable, on a loop the engine owns; else return it.

    With no loop running in this thread ``asyncio.run`` drives it; inside a
    running loop (an async application calling the sync API) a helper thread
    gets its own loop, carrying this context so context variables still apply.
    """
    if not inspect.isawaitable(result):
        return result

    async def wait() -> Any:
        return await result

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, wait()).result()
