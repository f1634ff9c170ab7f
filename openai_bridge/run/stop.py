"""Honouring the request's `stop` sequences by cutting the streamed answer at the first match."""

from __future__ import annotations

from openai_bridge.run.holdback import partial_marker_length


class StopCutter:
    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """The text that may be sent now; after a match, `stopped` is set and the rest is discarded."""
        if self.stopped:
            return ""
        if not self.stops:
            return text
        self._pending += text
        hits = [at for at in (self._pending.find(s) for s in self.stops) if at >= 0]
        if hits:
            self.stopped = True
            ready, self._pending = self._pending[: min(hits)], ""
            return ready
        keep = partial_marker_length(self._pending, self.stops)
        ready = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(self._pending) - keep:]
        return ready

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return ready
