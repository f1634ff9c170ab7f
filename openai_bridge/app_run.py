"""Running the Dify app for any OpenAI API: plan the call, start it, and read its answer as parts.

Chat Completions, Responses and legacy Completions differ only in how they parse requests and render answers;
everything between (conversation memory, inputs, files, the first-event wait, keep-alives, error mapping) is here.

Dify is always invoked in streaming mode, also for non-streaming requests, so long runs never hit Dify's blocking
time limits. A run is returned only once Dify's first event (or refusal) is in, so that a refusal before the run
starts is a real HTTP error the SDKs raise as such, while a slow start still lets a stream begin.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from . import dify_errors
from .answer import AnswerPart, Failure
from .answer_pipeline import AnswerPipeline
from .app_form import AppFormCache
from .attachments import check_fits, extract_attachments, file_variable, to_file_inputs
from .conversation_memory import ConversationMemory, history_digest
from .dify_call import UUID_PATTERN, DifyCall, plan_chat_call, validate_conversation_id
from .dify_port import DifyPort
from .http import HttpResponse, IncomingRequest
from .protocol import ChatCompletionRequest, ChatMessage
from .settings import EndpointSettings
from .upstream import KEEPALIVE, EventPump

CONVERSATION_HEADER = "X-Dify-Conversation-Id"
# At most this many waiting events are translated into one batch.
MAX_BATCH_EVENTS = 64


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


def caller_identity(request: IncomingRequest, chat: ChatCompletionRequest) -> str:
    """Who is talking: Dify runs every plugin call as one anonymous user, so threads are kept apart here."""
    key = hashlib.sha256(request.header("Authorization").encode()).hexdigest()[:16]
    user = json.dumps(chat.user, sort_keys=True, ensure_ascii=False, default=str)
    return f"{key}|{user}|{request.header('X-OpenWebUI-User-Id')}"


def requested_conversation(request: IncomingRequest, chat: ChatCompletionRequest) -> str | None:
    """A Dify conversation the caller names explicitly (body `conversation_id` or the header), validated."""
    if chat.conversation_id:
        return validate_conversation_id(chat.conversation_id, "conversation_id")
    header = request.header(CONVERSATION_HEADER)
    return validate_conversation_id(header, CONVERSATION_HEADER) if header else None


def conversation_header(conversation_id: str) -> dict[str, str]:
    # The id comes from Dify's events: only a well-formed one goes into a header (no CR/LF injection).
    if not conversation_id or not UUID_PATTERN.match(conversation_id):
        return {}
    return {CONVERSATION_HEADER: conversation_id}


@dataclass
class AppRun:
    """A started Dify run: its first parts are translated, the rest is read on demand."""

    pump: EventPump
    pipeline: AnswerPipeline
    first_parts: list[AnswerPart]
    memory: ConversationMemory
    caller: str
    thread: list[ChatMessage] | None  # the history to remember the answer under, if memory applies

    def identity(self, prefix: str) -> tuple[str, int, str]:
        """Response id (from Dify's message or run id), creation time and Dify conversation id."""
        env = self.pipeline.envelope
        run_id = env.message_id or env.workflow_run_id or uuid.uuid4().hex
        return f"{prefix}{run_id}", env.created_at or int(time.time()), env.conversation_id

    def batches(self, keepalive_after: float | None) -> Iterator[list[AnswerPart] | object]:
        """Lists of answer parts as Dify sends events; KEEPALIVE after `keepalive_after` seconds of silence.

        Events already waiting when one arrives join its list, so a burst is written to the client at once (one
        stdio line instead of one per event); nothing ever waits for more events.
        """
        try:
            yield self.first_parts
            ended = False
            while not ended and not self.pipeline.finished:
                parts, ended = self._next(keepalive_after)
                if parts is KEEPALIVE:
                    yield KEEPALIVE
                    continue
                waiting = MAX_BATCH_EVENTS
                while not ended and not self.pipeline.finished and waiting and self.pump.ready():
                    more, ended = self._next(0)
                    if more is KEEPALIVE:
                        break
                    parts += more  # type: ignore[operator]
                    waiting -= 1
                yield parts
        finally:
            self.pump.close()

    def _next(self, timeout: float | None) -> tuple[list[AnswerPart] | object, bool]:
        """The parts of Dify's next event (KEEPALIVE after `timeout` s of silence), and whether the stream ended."""
        try:
            event = self.pump.next(timeout)
        except StopIteration:
            return self.pipeline.close(), True
        except Exception as exc:  # noqa: BLE001 - a broken stream is an upstream failure
            return [Failure(dify_errors.from_exception(exc, app_ran=True))], True
        if event is KEEPALIVE:
            return KEEPALIVE, False
        return self.pipeline.feed(event), False

    def remember(self) -> None:
        """Store the finished turn so the thread's next request continues the same Dify conversation."""
        conversation_id = self.pipeline.envelope.conversation_id
        if self.thread is None or not conversation_id:
            return
        answered = [*self.thread, ChatMessage(role="assistant", content=self.pipeline.answer)]
        self.memory.remember(history_digest(self.caller, answered), conversation_id)


def start_app_run(request: IncomingRequest, chat: ChatCompletionRequest, settings: EndpointSettings,
                  dify: DifyPort, forms: AppFormCache, timing: Timing,
                  conversation_id: str | None = None) -> AppRun | HttpResponse:
    """Plan the Dify call for `chat` and start it; an HttpResponse when it cannot start."""
    form = forms.get(settings.app_id, dify.fetch_app_parameters)
    attachments = extract_attachments(chat)
    variable = file_variable(form, settings.file_variable)
    check_fits(attachments, form, variable, settings.file_variable)
    memory = ConversationMemory(dify, dify.endpoint_id)
    caller = caller_identity(request, chat)
    file_inputs = {}
    if attachments and variable is not None:
        try:
            file_inputs = to_file_inputs(attachments, variable, dify.upload_file)
        except Exception as exc:  # noqa: BLE001 - Dify refusing the upload is an upstream failure
            return HttpResponse.error(dify_errors.from_exception(exc))
    call = plan_chat_call(chat, settings, form, explicit_conversation=conversation_id,
                          find_conversation=lambda history: memory.find(history_digest(caller, history)),
                          must_start_new=bool(attachments), extra_inputs=file_inputs)
    stops = [chat.stop] if isinstance(chat.stop, str) else list(chat.stop or [])
    pipeline = AnswerPipeline(settings, stops)
    started = _first_event(dify, call, pipeline, timing)
    if isinstance(started, HttpResponse):
        return started
    pump, first_parts = started
    return AppRun(pump, pipeline, first_parts, memory, caller, call.thread)


def _first_event(dify: DifyPort, call: DifyCall, pipeline: AnswerPipeline,
                 timing: Timing) -> tuple[EventPump, list[AnswerPart]] | HttpResponse:
    pump = EventPump(lambda: dify.invoke_app(call.app_id, call.query, call.inputs, call.conversation_id))
    try:
        first = pump.next(timing.first_event_wait)
    except StopIteration:
        return pump, pipeline.close()
    except Exception as exc:  # noqa: BLE001 - any refusal from Dify becomes an OpenAI error
        pump.close()
        return HttpResponse.error(dify_errors.from_exception(exc))
    if first is KEEPALIVE:
        return pump, []
    parts = pipeline.feed(first)
    failure = next((p for p in parts if isinstance(p, Failure)), None)
    if failure is not None:
        pump.close()
        return HttpResponse.error(failure.error)
    return pump, parts
