"""Plugin storage calls that give up instead of holding a request for minutes."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from openai_bridge.ports import KeyValueStorage

T = TypeVar("T")


# Dify's daemon drops the backwards invocations of a session whose HTTP client has gone away, and the SDK waits 250 s
# for each unanswered one, so the storage calls that remember a finished turn could hold a session for many minutes.
# Storage answers in milliseconds: a call slower than this is given up, and so is every later call of the request.
# OPENAI_BRIDGE_STORAGE_TIMEOUT (seconds) tunes it, like the other OPENAI_BRIDGE_* timings.
def _storage_timeout(default: float = 10.0) -> float:
    try:
        value = float(os.environ.get("OPENAI_BRIDGE_STORAGE_TIMEOUT", default))
    except ValueError:
        return default
    return value if 0 < value <= 300 else default


STORAGE_TIMEOUT = _storage_timeout()


class BoundedStorage:
    """Plugin storage whose calls fail with TimeoutError after `timeout` seconds instead of waiting for the SDK.

    A given-up call keeps waiting on its helper thread (a greenlet under the plugin runtime) until the SDK gives up;
    the request goes on (conversation memory degrades to stateless) and ends."""

    def __init__(self, storage: KeyValueStorage, timeout: float | None = None) -> None:
        self._storage = storage
        self._timeout = STORAGE_TIMEOUT if timeout is None else timeout
        self._stalled = False

    def storage_get(self, key: str) -> bytes | None:
        return self._call(lambda: self._storage.storage_get(key))

    def storage_set(self, key: str, value: bytes) -> None:
        self._call(lambda: self._storage.storage_set(key, value))

    def _call(self, call: Callable[[], T]) -> T:
        if self._stalled:
            raise TimeoutError("plugin storage stopped answering earlier in this request")
        done: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                done.put((True, call()))
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                done.put((False, exc))

        threading.Thread(target=run, daemon=True).start()
        try:
            ok, value = done.get(timeout=self._timeout)
        except queue.Empty:
            self._stalled = True
            raise TimeoutError(f"plugin storage did not answer within {self._timeout:g} s") from None
        if not ok:
            raise value
        return cast(T, value)
