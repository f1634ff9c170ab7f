"""The optional observer hook: what passes between the HTTP client, the plugin and the emulated Dify, timestamped.

    timeline = SessionTimeline()
    with Emulator(observer=timeline) as emu:      # or later: emu.observer = timeline; None turns it off
        ...
        for session_id, events in timeline.sessions.items(): ...

An observer is any callable `observer(kind, session_id, t, detail)`; `t` is `time.perf_counter()` in the emulator
process when the emulator wrote (or read) the message. Kinds, in the order they usually happen:

| kind          | when                                                                  | detail              |
|---------------|-----------------------------------------------------------------------|---------------------|
| `request`     | the endpoint request was written to the plugin's stdin                | the raw request     |
| `app_event`   | one app event (a chunk of an `app` invocation) is written to it       | the event dict      |
| `app_end`     | an `app` invocation is over (ended, failed or cancelled)              | {events, cancelled, |
|               |                                                                       |  error}             |
| `status`      | the plugin sent the response status and headers                       | the stream message  |
| `chunk`       | the plugin sent one response body chunk (one stdout line)             | the chunk's bytes   |
| `end`/`error` | the plugin ended the session                                          | the message's data  |
| `client_gone` | the HTTP client went away before the response ended                   | None                |
| `dropped`     | the plugin invoked Dify for a session nobody listens to any more      | the session message |

Plugin messages are observed whether or not the HTTP client still listens: a benchmark sees the plugin's own
timing, a test sees that a plugin ended a session whose client left. Observers run on the emulator's I/O threads:
keep them quick and never raise.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

Observer = Callable[[str, str, float, Any], None]


class SessionTimeline:
    """An observer that keeps `(kind, t, detail)` per session, in arrival order, for at most `max_sessions`
    sessions (the oldest are forgotten first); `keep_details=False` keeps only kinds and times (and chunk sizes)."""

    def __init__(self, max_sessions: int = 10_000, keep_details: bool = True) -> None:
        self.max_sessions = max_sessions
        self.keep_details = keep_details
        self._lock = threading.Lock()
        self.sessions: dict[str, list[tuple[str, float, Any]]] = defaultdict(list)

    def __call__(self, kind: str, session_id: str, t: float, detail: Any) -> None:
        if not self.keep_details:
            detail = len(detail) if isinstance(detail, bytes) else None
        with self._lock:
            if session_id not in self.sessions and len(self.sessions) >= self.max_sessions:
                del self.sessions[next(iter(self.sessions))]
            self.sessions[session_id].append((kind, t, detail))

    def clear(self) -> None:
        with self._lock:
            self.sessions.clear()

    def events(self, session_id: str) -> list[tuple[str, float, Any]]:
        with self._lock:
            return list(self.sessions.get(session_id, ()))

    def first(self, session_id: str, kind: str, where: Callable[[Any], bool] | None = None) -> float | None:
        """Time of the session's first `kind` whose detail satisfies `where`."""
        for seen, t, detail in self.events(session_id):
            if seen == kind and (where is None or where(detail)):
                return t
        return None

    def last_session(self) -> str | None:
        with self._lock:
            return next(reversed(self.sessions), None)
