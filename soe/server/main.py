"""Starting the server: check the bind address against the keys, open the store, run uvicorn."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServeOptions", "check_bind", "serve"]

_LOOPBACK_NAMES = ("localhost",)


@dataclass
class ServeOptions:
    """What ``soe serve`` was given."""

    store: str
    host: str = "127.0.0.1"
    port: int = 8080
    api_key_file: Path | None = None
    llm: str | None = None
    tools: Sequence[str] = field(default_factory=list)
    workers: int = 8


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys_required: bool) -> None:
    """Without keys anyone who can reach the port could run workflows: loopback only.

    Raises:
        ValueError: a non-loopback ``host`` without ``--api-key-file``.
    """
    if not keys_required and not _is_loopback(host):
        raise ValueError(f"Refusing to serve on {host} without API keys: pass --api-key-file FILE "
                         "(one key per line) or bind 127.0.0.1")


def serve(options: ServeOptions) -> None:
    """Serve until interrupted; the store is closed after the last execution finished.

    Executions a previous server left running (killed, crashed) are resumed first.

    Raises:
        ValueError, OSError: bad options, an unreadable key file or store.
    """
    import uvicorn

    from soe import create_all_nodes
    from soe.inputs import close_store, open_store
    from soe.llm.providers import llm_from_spec
    from soe.server.app import create_app
    from soe.server.auth import ApiKeys
    from soe.server.service import ExecutionService
    from soe.tool_specs import load_tools

    keys = ApiKeys.from_file(options.api_key_file) if options.api_key_file else ApiKeys([])
    check_bind(options.host, keys.required)
    tools = load_tools(options.tools)
    call_llm = llm_from_spec(options.llm) if options.llm else None
    backends = open_store(options.store)
    try:
        _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=tools)
        service = ExecutionService(backends, broadcast, tools=tools, has_llm=call_llm is not None,
                                   workers=options.workers)
        service.resume_interrupted()
        try:
            uvicorn.run(create_app(service, keys), host=options.host, port=options.port,
                        log_level="warning", access_log=False)
        finally:
            service.close()
    finally:
        close_store(backends)
