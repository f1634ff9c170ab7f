"""Delivering a started app run to the client, whole or streamed: the loop every OpenAI API shares.

Each API brings its own sink (collects parts into one object) or stream writer (turns parts into frames); the
timing of keep-alives and of remembering the finished turn is decided here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from .answer import AnswerPart, Finish
from .app_run import AppRun, Timing
from .errors import OpenAIError
from .http import HttpResponse
from .sse import KEEPALIVE as KEEPALIVE_FRAME
from .sse import STREAM_HEADERS
from .upstream import KEEPALIVE


class AnswerSink(Protocol):
    error: OpenAIError | None

    def add(self, part: AnswerPart) -> object: ...


class StreamWriter(Protocol):
    def start(self) -> bytes:
        """The first frame, sent at once so the client sees the stream begin."""
        ...

    def write(self, part: AnswerPart) -> bytes: ...


def collect(run: AppRun, sink: AnswerSink, remember: Callable[[], None] | None = None) -> OpenAIError | None:
    """Feed the whole run to `sink`; the run's failure, or None once the turn is remembered."""
    for batch in run.batches(None):
        for part in batch:  # type: ignore[union-attr] - no keep-alives without a timeout
            sink.add(part)
    if sink.error is not None:
        return sink.error
    (remember or run.remember)()
    return None


def stream(run: AppRun, writer: StreamWriter, timing: Timing, headers: Mapping[str, str],
           remember: Callable[[], None] | None = None) -> HttpResponse:
    def body() -> Iterator[bytes]:
        yield writer.start()
        for batch in run.batches(timing.keepalive_interval):
            if batch is KEEPALIVE:
                yield KEEPALIVE_FRAME
                continue
            for part in batch:  # type: ignore[union-attr]
                if isinstance(part, Finish):
                    # Before the final frame: a client may send its next turn the moment the stream ends.
                    (remember or run.remember)()
                frame = writer.write(part)
                if frame:
                    yield frame

    return HttpResponse(200, {**STREAM_HEADERS, **headers}, body())
