"""How long a run waits before its response begins, and how often a silent stream is kept alive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    first_event_wait: float = 5.0  # how long an error may still become a real HTTP status
    keepalive_interval: float = 10.0  # clients and proxies give up on silent streams after 15 s or more

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Timing:
        """Operators (and tests) may tune both through OPENAI_BRIDGE_FIRST_EVENT_WAIT / _KEEPALIVE_INTERVAL."""
        def seconds(name: str, default: float) -> float:
            try:
                value = float(env.get(name, default))
            except ValueError:
                return default
            return value if 0 < value <= 300 else default

        return cls(seconds("OPENAI_BRIDGE_FIRST_EVENT_WAIT", cls.first_event_wait),
                   seconds("OPENAI_BRIDGE_KEEPALIVE_INTERVAL", cls.keepalive_interval))
