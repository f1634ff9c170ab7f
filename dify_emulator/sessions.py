"""Routing of session messages to the endpoint requests waiting for them.

Every endpoint request gets a fresh session id and a channel; the stdout multiplexer drops `stream`,
`end` and `error` messages into the channel of their session. When the plugin process that owns a
session exits, the channel gets a `died` message.
"""

import queue
import threading
from typing import Any

from .plugin_process import PluginProcess

# (kind, data): kind is "stream" | "end" | "error" | "died"
Message = tuple[str, Any]


class Channel:
    def __init__(self, session_id: str, owner: PluginProcess) -> None:
        self.session_id = session_id
        self.owner = owner
        self._queue: queue.Queue[Message] = queue.Queue()

    def put(self, message: Message) -> None:
        self._queue.put(message)

    def get(self, timeout: float) -> Message | None:
        """The next message, or None after `timeout` seconds."""
        try:
            return self._queue.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None


class SessionRouter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, Channel] = {}

    def open(self, session_id: str, owner: PluginProcess) -> Channel:
        channel = Channel(session_id, owner)
        with self._lock:
            self._channels[session_id] = channel
        return channel

    def close(self, session_id: str) -> None:
        """Later messages of this session (the client left, or it ended) are dropped."""
        with self._lock:
            self._channels.pop(session_id, None)

    def is_open(self, session_id: str) -> bool:
        """Whether someone still listens to this session (the daemon's session listener)."""
        with self._lock:
            return session_id in self._channels

    def deliver(self, session_id: str, kind: str, data: Any) -> None:
        with self._lock:
            channel = self._channels.get(session_id)
        if channel is not None:
            channel.put((kind, data))

    def owner_exited(self, owner: PluginProcess, code: int | None) -> None:
        with self._lock:
            orphans = [c for c in self._channels.values() if c.owner is owner]
        for channel in orphans:
            channel.put(("died", f"the plugin process exited (code {code})"))
