"""A started Dify run: its first parts are translated, the rest is read on demand, and the finished turn remembered.

The delivery loop (run.delivery) reads it as batches of answer parts, whatever the OpenAI API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from openai_bridge.answer import AnswerPart, Failure
from openai_bridge.dify import failures
from openai_bridge.dify.failures import FailureContext
from openai_bridge.ids import new_id
from openai_bridge.memory.conversations import ConversationMemory, Thread, thread_of
from openai_bridge.run.pipeline import AnswerPipeline
from openai_bridge.run.readers import KEEPALIVE, EventSource
from openai_bridge.wire.chat import ChatMessage

# At most this many waiting events are translated into one batch.
MAX_BATCH_EVENTS = 64


@dataclass
class Run:
    """A started Dify run: its first parts are translated, the rest is read on demand."""

    reader: EventSource
    pipeline: AnswerPipeline
    first_parts: list[AnswerPart]
    memory: ConversationMemory
    # The thread to remember the answer under (the messages up to the new user message), and the history it
    # continued, which the answer consumes; None when this request keeps no thread memory.
    thread: list[ChatMessage] | None = None
    continued: Thread | None = None
    owner: str = ""  # whose thread it is (run.start.thread_owner)
    context: FailureContext = field(default_factory=FailureContext)
    started_at: float = field(default_factory=time.monotonic)
    # Whether Dify's first event is in; a run handed over before it (a slow start) begins its stream silently.
    heard: bool = True
    _unnamed: str = field(default_factory=new_id)  # the id of a run Dify never named

    def identity(self, prefix: str) -> tuple[str, int, str]:
        """Response id (from Dify's message or run id), creation time and Dify conversation id."""
        env = self.pipeline.envelope
        run_id = env.message_id or env.workflow_run_id or self._unnamed
        return f"{prefix}{run_id}", env.created_at or int(time.time()), env.conversation_id

    def batches(self, keepalive_after: float | None) -> Iterator[list[AnswerPart] | object]:
        """Lists of answer parts as Dify sends events; KEEPALIVE after `keepalive_after` seconds of silence.

        Events already waiting when one arrives join its list, so a burst is written to the client at once (one
        stdio line instead of one per event); nothing ever waits for more events.
        """
        try:
            yield self.first_parts if self.heard else KEEPALIVE
            ended = False
            while not ended and not self.pipeline.finished:
                parts, ended = self._next(keepalive_after)
                if parts is KEEPALIVE:
                    yield KEEPALIVE
                    continue
                waiting = MAX_BATCH_EVENTS
                while not ended and not self.pipeline.finished and waiting and self.reader.ready():
                    more, ended = self._next(0)
                    if more is KEEPALIVE:
                        break
                    parts += more  # type: ignore[operator]
                    waiting -= 1
                yield parts
        finally:
            self.reader.close()

    def _next(self, timeout: float | None) -> tuple[list[AnswerPart] | object, bool]:
        """The parts of Dify's next event (KEEPALIVE after `timeout` s of silence), and whether the stream ended."""
        try:
            event = self.reader.next(timeout)
        except StopIteration:
            self.heard = True
            return self.pipeline.close(), True
        except Exception as exc:  # noqa: BLE001 - a broken stream is an upstream failure
            context = FailureContext(True, self.context.conversation_id, elapsed=time.monotonic() - self.started_at,
                                     conversational=self.context.conversational,
                                     runs_text_generators=self.context.runs_text_generators)
            return [Failure(failures.from_exception(exc, context))], True
        if event is KEEPALIVE:
            return KEEPALIVE, False
        self.heard = True
        return self.pipeline.feed(event), False

    def remember(self) -> None:
        """Store the finished turn so the thread's next request continues the same Dify conversation."""
        conversation_id = self.pipeline.envelope.conversation_id
        if self.thread is None or not conversation_id:
            return
        after = thread_of(self.owner, [*self.thread, ChatMessage(role="assistant", content=self.pipeline.answer)])
        if after is not None:
            self.memory.advance(self.continued, after, conversation_id)
