"""Delivering a started app run to the client, whole or streamed: the loop every OpenAI API shares.

Each API brings its own sink (collects parts into one object) or stream writer (turns parts into frames); the
timing of keep-alives and of remembering the finished turn is decided here once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from openai_bridge.answer import AnswerPart, Finish
from openai_bridge.errors import OpenAIError
from openai_bridge.http.messages import MAX_CHUNK_BYTES, HttpResponse
from openai_bridge.run.readers import KEEPALIVE
from openai_bridge.run.run import Run
from openai_bridge.run.timing import Timing
from openai_bridge.wire.extensions import conversation_header
from openai_bridge.wire.sse import KEEPALIVE as KEEPALIVE_FRAME
from openai_bridge.wire.sse import STREAM_HEADERS


class AnswerSink(Protocol):
    error: OpenAIError | None

    def add(self, part: AnswerPart) -> object: ...


class StreamWriter(Protocol):
    def start(self) -> bytes:
        """The first frame, sent at once so the client sees the stream begin."""
        ...

    def write(self, part: AnswerPart) -> bytes: ...


def collect(run: Run, sink: AnswerSink, remember: Callable[[], None] | None = None) -> OpenAIError | None:
    """Feed the whole run to `sink`; the run's failure, or None once the turn is remembered."""
    for batch in run.batches(None):
        if batch is KEEPALIVE:
            continue
        for part in batch:  # type: ignore[union-attr]
            sink.add(part)
    if sink.error is not None:
        return sink.error
    (remember or run.remember)()
    return None


def whole(run: Run, sink: AnswerSink, render: Callable[[], dict[str, Any]],
          remember: Callable[[], None] | None = None) -> HttpResponse:
    """The run collected into `sink`, answered as `render()` JSON with the conversation header; raises its error."""
    error = collect(run, sink, remember)
    headers = conversation_header(run.pipeline.envelope.conversation_id)
    if error is not None:
        raise error.with_headers(**headers)
    return HttpResponse.json(render(), headers=headers)


def stream(run: Run, open_writer: Callable[[], StreamWriter], timing: Timing,
           remember: Callable[[], None] | None = None) -> HttpResponse:
    """The run as a stream of `open_writer()`'s frames.

    The writer is opened once Dify's first event is in, so that its opening frame carries the response id and the
    conversation that event names, also when the stream had to begin (with keep-alives) before Dify said anything.
    """

    def body() -> Iterator[bytes]:
        # The frames of one batch go out as one chunk: each chunk costs a stdio line to the daemon, whatever its
        # size. A single frame larger than a chunk (at most ~200 KB, see answer_pipeline) goes alone.
        writer: StreamWriter | None = None
        out: list[bytes] = []
        size = 0
        for batch in run.batches(timing.keepalive_interval):
            if batch is KEEPALIVE:
                yield KEEPALIVE_FRAME
                continue
            if writer is None:
                writer = open_writer()
                out, size = [writer.start()], 0
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

    chunks = body()
    # A body the SDK never starts (its request failed on the way out) would leave Dify's stream being read for
    # nobody; a generator that never started runs no `finally`, so its collection closes the run instead.
    weakref.finalize(chunks, run.reader.close)
    return HttpResponse(200, {**STREAM_HEADERS, **conversation_header(run.pipeline.envelope.conversation_id)},
                        chunks)
