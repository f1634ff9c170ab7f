"""Reading Dify's event stream on a helper thread, so the response can send keep-alives while Dify is silent.

Under the plugin runtime threads are gevent greenlets, so a reader thread per request is cheap. Closing the reader
stops it reading further events, which closes Dify's stream as soon as the client has gone or the answer is
complete. A whole answer, which sends nothing while it waits, reads in the request's own thread instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

KEEPALIVE = object()
_END = object()


class _Raised:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ThreadedReader:
    def __init__(self, open_stream: Callable[[], Iterator[Any]]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=256)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(open_stream,), daemon=True)
        self._thread.start()

    def _run(self, open_stream: Callable[[], Iterator[Any]]) -> None:
        stream: Iterator[Any] | None = None
        try:
            stream = open_stream()
            for event in stream:
                if self._closed.is_set():
                    break
                self._put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which decides
            self._put(_Raised(exc))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing a finished upstream must not mask its result
                    pass
            self._put(_END)

    def _put(self, item: Any) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def next(self, timeout: float | None) -> Any:
        """The next event, KEEPALIVE after `timeout` seconds of silence, StopIteration at the end; re-raises."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return KEEPALIVE
        if item is _END:
            self._closed.set()
            raise StopIteration
        if isinstance(item, _Raised):
            raise item.error
        return item

    def ready(self) -> bool:
        """Whether `next` would return at once (an event, the end or a failure is waiting)."""
        return not self._queue.empty()

    def close(self) -> None:
        self._closed.set()
        # Unblock a producer waiting on a full queue.
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass


class EventSource(Protocol):
    """Dify's events for one run, read by the request's delivery loop."""

    def next(self, timeout: float | None) -> Any:
        """The next event, KEEPALIVE after `timeout` seconds of silence, StopIteration at the end; re-raises."""
        ...

    def ready(self) -> bool:
        """Whether `next` would return at once."""
        ...

    def close(self) -> None: ...


class DirectReader:
    """Dify's events read in the request's own thread: for a whole answer, which sends nothing while it waits, a
    reader thread and its queue would only add a hand-over per event."""

    def __init__(self, open_stream: Callable[[], Iterator[Any]]) -> None:
        self._open = open_stream
        self._stream: Iterator[Any] | None = None
        self._closed = False

    def next(self, timeout: float | None) -> Any:
        if self._closed:
            raise StopIteration
        if self._stream is None:
            self._stream = iter(self._open())
        try:
            return next(self._stream)
        except StopIteration:
            self.close()
            raise

    def ready(self) -> bool:
        return False

    def close(self) -> None:
        self._closed = True
        close = getattr(self._stream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - closing a finished upstream must not mask its result
                pass
