"""Serving `POST /chat/completions`: parse, plan the Dify call, run it, and answer streamed or whole.

Dify is always invoked in streaming mode, also for non-streaming requests, so long runs never hit Dify's blocking
time limits. A streamed answer commits its HTTP 200 only once Dify's first event (or failure) is in, so that a
refusal before the run starts is a real HTTP error the SDKs raise as such.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import hashlib
import json

from . import dify_errors
from .answer import AnswerPart, Failure, Finish
from .answer_pipeline import AnswerPipeline
from .app_form import AppFormCache
from .attachments import check_fits, extract_attachments, file_variable, to_file_inputs
from .chat_request import parse_chat_request
from .chat_response import ChatResponseBuilder
from .chat_stream import ChatStreamWriter
from .conversation_memory import ConversationMemory, history_digest
from .dify_call import DifyCall, plan_chat_call, validate_conversation_id
from .dify_port import DifyPort
from .http import HttpResponse, IncomingRequest
from .protocol import ChatCompletionRequest, ChatMessage
from .settings import EndpointSettings
from .sse import KEEPALIVE as KEEPALIVE_FRAME
from .sse import STREAM_HEADERS
from .upstream import KEEPALIVE, EventPump


@dataclass(frozen=True)
class Timing:
    first_event_wait: float = 5.0  # how long an error may still become a real HTTP status
    keepalive_interval: float = 10.0  # clients and proxies give up on silent streams after 15 s or more


CONVERSATION_HEADER = "X-Dify-Conversation-Id"


def caller_identity(request: IncomingRequest, chat: ChatCompletionRequest) -> str:
    """Who is talking: Dify runs every plugin call as one anonymous user, so threads are kept apart here."""
    key = hashlib.sha256(request.header("Authorization").encode()).hexdigest()[:16]
    user = json.dumps(chat.user, sort_keys=True, ensure_ascii=False, default=str)
    return f"{key}|{user}|{request.header('X-OpenWebUI-User-Id')}"


def explicit_conversation(request: IncomingRequest, chat: ChatCompletionRequest) -> str | None:
    if chat.conversation_id:
        return validate_conversation_id(chat.conversation_id, "conversation_id")
    header = request.header(CONVERSATION_HEADER)
    return validate_conversation_id(header, CONVERSATION_HEADER) if header else None


@dataclass
class _Memory:
    """Remembers a finished turn so the thread's next request continues the same Dify conversation."""

    store: ConversationMemory
    caller: str
    thread: list[ChatMessage] | None

    def remember(self, pipeline: AnswerPipeline) -> None:
        conversation_id = pipeline.envelope.conversation_id
        if self.thread is None or not conversation_id:
            return
        answered = [*self.thread, ChatMessage(role="assistant", content=pipeline.answer)]
        self.store.remember(history_digest(self.caller, answered), conversation_id)


@dataclass
class _Started:
    """A Dify run whose first event (if any came in time) has been read and translated."""

    pump: EventPump
    pipeline: AnswerPipeline
    first_parts: list[AnswerPart]
    waiting: bool  # True when Dify had not said anything yet after first_event_wait

    def identity(self) -> tuple[str, int, str]:
        env = self.pipeline.envelope
        run_id = env.message_id or env.workflow_run_id or uuid.uuid4().hex
        return f"chatcmpl-{run_id}", env.created_at or int(time.time()), env.conversation_id


def start_run(dify: DifyPort, call: DifyCall, pipeline: AnswerPipeline, timing: Timing) -> _Started | HttpResponse:
    pump = EventPump(lambda: dify.invoke_app(call.app_id, call.query, call.inputs, call.conversation_id))
    try:
        first = pump.next(timing.first_event_wait)
    except StopIteration:
        return _Started(pump, pipeline, pipeline.close(), False)
    except Exception as exc:  # noqa: BLE001 - any refusal from Dify becomes an OpenAI error
        pump.close()
        return HttpResponse.error(dify_errors.from_exception(exc))
    if first is KEEPALIVE:
        return _Started(pump, pipeline, [], True)
    parts = pipeline.feed(first)
    failure = next((p for p in parts if isinstance(p, Failure)), None)
    if failure is not None:
        pump.close()
        return HttpResponse.error(failure.error)
    return _Started(pump, pipeline, parts, False)


def chat_completions(request: IncomingRequest, settings: EndpointSettings, dify: DifyPort, forms: AppFormCache,
                     timing: Timing = Timing()) -> HttpResponse:
    chat = parse_chat_request(request.body, request.declared_length)
    form = forms.get(settings.app_id, dify.fetch_app_parameters)
    explicit = explicit_conversation(request, chat)
    attachments = extract_attachments(chat)
    variable = file_variable(form, settings.file_variable)
    check_fits(attachments, form, variable, settings.file_variable)
    store = ConversationMemory(dify, dify.endpoint_id)
    caller = caller_identity(request, chat)
    file_inputs = {}
    if attachments and variable is not None:
        try:
            file_inputs = to_file_inputs(attachments, variable, dify.upload_file)
        except Exception as exc:  # noqa: BLE001 - Dify refusing the upload is an upstream failure
            return HttpResponse.error(dify_errors.from_exception(exc))
    call = plan_chat_call(chat, settings, form, explicit_conversation=explicit,
                          find_conversation=lambda history: store.find(history_digest(caller, history)),
                          must_start_new=bool(attachments), extra_inputs=file_inputs)
    stops = [chat.stop] if isinstance(chat.stop, str) else list(chat.stop or [])
    started = start_run(dify, call, AnswerPipeline(settings, stops), timing)
    if isinstance(started, HttpResponse):
        return started
    memory = _Memory(store, caller, call.thread)
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        return _stream(started, chat.model, include_usage, timing, memory)
    return _whole(started, chat.model, memory)


def _conversation_header(conversation_id: str) -> dict[str, str]:
    return {CONVERSATION_HEADER: conversation_id} if conversation_id else {}


def _whole(run: _Started, model: str, memory: _Memory) -> HttpResponse:
    builder = ChatResponseBuilder()
    try:
        for part in run.first_parts:
            builder.add(part)
        while not run.pipeline.finished:
            try:
                event = run.pump.next(None)
            except StopIteration:
                parts = run.pipeline.close()
            except Exception as exc:  # noqa: BLE001 - a broken stream is an upstream error
                parts = [Failure(dify_errors.from_exception(exc, app_ran=True))]
            else:
                parts = run.pipeline.feed(event)
            for part in parts:
                builder.add(part)
    finally:
        run.pump.close()
    completion_id, created, conversation_id = run.identity()
    if builder.error is not None:
        return HttpResponse.error(builder.error.with_headers(**_conversation_header(conversation_id)))
    memory.remember(run.pipeline)
    completion = builder.build(completion_id, created, model, conversation_id)
    return HttpResponse.json(completion.to_dict(), headers=_conversation_header(conversation_id))


def _stream(run: _Started, model: str, include_usage: bool, timing: Timing, memory: _Memory) -> HttpResponse:
    completion_id, created, conversation_id = run.identity()
    writer = ChatStreamWriter(completion_id, created, model, include_usage, conversation_id)

    def body() -> Iterator[bytes]:
        try:
            yield writer.start()
            yield from _frames(run.first_parts)
            while not run.pipeline.finished:
                try:
                    event = run.pump.next(timing.keepalive_interval)
                except StopIteration:
                    yield from _frames(run.pipeline.close())
                    return
                except Exception as exc:  # noqa: BLE001 - reported in the stream, the status is already sent
                    yield writer.fail(Failure(dify_errors.from_exception(exc, app_ran=True)))
                    return
                if event is KEEPALIVE:
                    yield KEEPALIVE_FRAME
                else:
                    yield from _frames(run.pipeline.feed(event))
        finally:
            run.pump.close()

    def _frames(parts: list[AnswerPart]) -> Iterator[bytes]:
        for part in parts:
            if isinstance(part, Finish):
                # Before [DONE]: a client may send its next turn the moment the stream ends.
                memory.remember(run.pipeline)
            frame = writer.write(part)
            if frame:
                yield frame

    return HttpResponse(200, {**STREAM_HEADERS, **_conversation_header(conversation_id)}, body())
