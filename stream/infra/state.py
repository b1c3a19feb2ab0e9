"""What ``infra up|down|status`` report about one service."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

State = Literal["running", "stopped", "unreachable"]


@dataclass(frozen=True)
class ServiceState:
    """One service's state.

    Attributes:
        name: ``kafka`` or ``redis``.
        address: host:port (or URL without credentials) clients use.
        state: ``running`` (answers its health check), ``stopped`` or ``unreachable``.
        managed: True when this project started the process (``infra down`` stops it).
        pid: process id when managed.
        started: True when this very call started it.
        ready_s: seconds from the start of the call until healthy, when it was started.
        detail: a human-readable note (version, reason).
    """

    name: str
    address: str
    state: State
    managed: bool = False
    pid: int | None = None
    started: bool = False
    ready_s: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)
