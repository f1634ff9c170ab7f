"""Delivering a started app run to the client, whole or streamed: the loop every OpenAI API shares.

Each API brings its own sink (collects parts into one object) or stream writer (turns parts into frames); the
timing of keep-alives and of remembering the finished turn is decided here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from .answer import AnswerPart, Finish
from .app_run import AppRun, Timing, conversation_header
from .errors import OpenAIError
from .http import HttpResponse
from .sse import KEEPALIVE as KEEPALIVE_FRAME
from .sse import STREAM_HEADERS
from .upstream import KEEPALIVE

# A joined chunk stays below this (a single larger frame, at most ~200 KB, goes alone): each chunk travels
# hex-encoded on one stdio line, and the daemon's line limit is 5 MiB.
MAX_CHUNK_BYTES = 64 * 1024


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


def whole(run: AppRun, sink: AnswerSink, render: Callable[[], dict],
          remember: Callable[[], None] | None = None) -> HttpResponse:
    """The run collected into `sink`, answered as `render()` JSON or as its error, with the conversation header."""
    error = collect(run, sink, remember)
    headers = conversation_header(run.pipeline.envelope.conversation_id)
    if error is not None:
        return HttpResponse.error(error.with_headers(**headers))
    return HttpResponse.json(render(), headers=headers)


def stream(run: AppRun, writer: StreamWriter, timing: Timing, headers: Mapping[str, str],
           remember: Callable[[], None] | None = None) -> HttpResponse:
    def body() -> Iterator[bytes]:
        # The frames of one batch go out as one chunk: each chunk costs a stdio line to the daemon, whatever its
        # size. The first chunk also carries the opening frame, at once.
        out, size = [writer.start()], 0
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
                    if size + len(frame) > MAX_CHUNK_BYTES and size:
                        yield b"".join(out)
                        out, size = [], 0
                    out.append(frame)
                    size += len(frame)
            if out:
                yield b"".join(out)
                out, size = [], 0

    return HttpResponse(200, {**STREAM_HEADERS, **headers}, body())
