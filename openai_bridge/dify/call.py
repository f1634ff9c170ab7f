"""Planning the Dify app call for a chat request: which query, which inputs, which conversation.

Memory modes decide what the app hears of the client's history:
- `last_user_message`: only the new user message (the app has no memory of earlier turns);
- `all_messages`: the whole history, flattened to a readable transcript, every turn;
- `conversation`: one Dify conversation per thread; only the new turn is sent, and Dify's own memory does the rest.
  A thread whose history the plugin does not recognise (edited, regenerated, started elsewhere) starts a new Dify
  conversation seeded with the flattened history, so no context is lost.
Dify validates and uses `inputs` on every turn, files included, so a turn with new files or changed inputs stays
in its conversation. Which conversation a request continues is found before planning (`Continuation`); planning
itself reads nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from openai_bridge.dify.form import AppForm
from openai_bridge.dify.transcript import (
    content_text,
    history_json,
    last_user_index,
    system_prompt,
    transcript,
    user_text,
)
from openai_bridge.errors import invalid_request
from openai_bridge.settings import EndpointSettings, MemoryMode
from openai_bridge.wire.chat import ChatCompletionRequest, ChatMessage

SEED_HISTORY_VARIABLE = "messages"


@dataclass(frozen=True)
class Caller:
    """Who is asking, as far as the request says: Dify runs every plugin call as one anonymous user."""

    id: str = ""
    name: str = ""
    email: str = ""
    role: str = ""


def identity_inputs(variable: str, caller: Caller, form: AppForm) -> dict[str, str]:
    """The caller's identity for the app's declared identity inputs (`<variable>`, `<variable>_name`, ...)."""
    if not variable:
        return {}
    fields = {variable: caller.id, f"{variable}_name": caller.name, f"{variable}_email": caller.email,
              f"{variable}_role": caller.role}
    inputs: dict[str, str] = {}
    for name, value in fields.items():
        declared = form.get(name)
        if declared is not None and value:
            # Dify refuses a text longer than the variable takes; an identity is better cut than refused.
            inputs[name] = value[: declared.max_length] if declared.max_length else value
    return inputs


@dataclass(frozen=True)
class DifyCall:
    app_id: str
    query: str
    inputs: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None
    user: str = ""  # the end user it runs as, where the Dify API lets the caller say (run.start.dify_user)
    files: list[dict[str, Any]] = field(default_factory=list)  # attached to the query itself (sys.files)


class Source(StrEnum):
    """How the plugin knows which conversation a request continues, which decides what an unknown one means."""

    CLIENT = "client"  # the caller named it: Dify not knowing it is the caller's error
    MEMORY = "memory"  # the plugin's thread memory found it: a forgotten one is re-seeded
    RESPONSE = "response"  # a previous_response_id's conversation: likewise


@dataclass(frozen=True)
class Continuation:
    conversation_id: str
    source: Source
    param: str | None = None  # where a client named it (`conversation_id`, the header)
    response_id: str = ""  # the previous response whose conversation this is


def with_system_prompt(query: str, system: str) -> str:
    # A clear, stable frame so the app's model can tell instructions from the user's words.
    return f"[System instructions]\n{system}\n\n[User message]\n{query}" if system else query


def seeded_query(dialogue: str, message_text: str, system: str) -> str:
    framed = f"[Conversation so far]\n{dialogue}\n\n[New message]\n{message_text}"
    return f"[System instructions]\n{system}\n\n{framed}" if system else framed


def _dialogue(earlier_turns: Sequence[str], history: list[ChatMessage]) -> str:
    said = [m for m in history if m.role not in {"system", "developer"}]
    return "\n\n".join([*earlier_turns, transcript(said)] if said else earlier_turns)


# Dify input values are strings, numbers and file mappings. The SDK serialises the call with pydantic, which gives up
# past 255 levels of nesting, and Dify would only refuse the value anyway: deeper request inputs are a 400.
MAX_INPUT_DEPTH = 32


def _too_deep(value: Any, limit: int = MAX_INPUT_DEPTH) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def build_inputs(request: ChatCompletionRequest, settings: EndpointSettings, form: AppForm, query: str,
                 system: str, caller: Caller) -> dict[str, Any]:
    for name, value in (request.inputs or {}).items():
        if _too_deep(value):
            raise invalid_request(f"The value of inputs.{name} is nested more than {MAX_INPUT_DEPTH} levels deep.",
                                  f"inputs.{name}")
    inputs: dict[str, Any] = {**settings.app_inputs, **(request.inputs or {})}
    if form.has(settings.query_variable):
        inputs.setdefault(settings.query_variable, query)
    if system and form.has(settings.system_prompt_variable):
        inputs.setdefault(settings.system_prompt_variable, system)
    if form.has(SEED_HISTORY_VARIABLE):
        inputs.setdefault(SEED_HISTORY_VARIABLE, history_json(request.messages))
    # Over the request's own inputs: the admin named these for the caller's identity.
    inputs.update(identity_inputs(settings.user_variable, caller, form))
    return inputs


def check_required_inputs(form: AppForm, inputs: dict[str, Any]) -> None:
    for variable in form.variables:
        value = inputs.get(variable.name)
        if variable.required and (value is None or value == "" or value == []):
            raise invalid_request(
                f"The Dify app requires the input '{variable.name}'"
                + (f" ({variable.label})" if variable.label else "")
                + ". Pass it as \"inputs\": {\"" + variable.name + "\": ...} in the request body "
                "(extra_body with the OpenAI SDKs) or set it in the endpoint's app settings.",
                f"inputs.{variable.name}",
                "missing_required_input",
            )


def plan_chat_call(request: ChatCompletionRequest, settings: EndpointSettings, form: AppForm, *,
                   continuation: Continuation | None = None, earlier_turns: Sequence[str] = (),
                   extra_inputs: dict[str, Any] | None = None, caller: Caller = Caller(), user: str = "",
                   files: list[dict[str, Any]] | None = None) -> DifyCall:
    """`earlier_turns`: the dialogue before this request, when the request does not carry it (a Responses chain
    re-seeded from what the plugin stored), as transcript text."""
    messages = request.messages
    last = last_user_index(messages)
    history, new_message = messages[:last], messages[last]
    system = system_prompt(messages)
    system_in_inputs = bool(system) and form.has(settings.system_prompt_variable)
    query_system = "" if system_in_inputs else system
    message_text = user_text(new_message) or content_text(new_message)
    if not message_text.strip():
        raise invalid_request("The last user message is empty; send some text.", f"messages[{last}].content")

    dialogue = _dialogue(earlier_turns, history)
    if continuation is not None:
        query = with_system_prompt(message_text, query_system)
    elif settings.memory_mode is MemoryMode.ALL_MESSAGES and not earlier_turns:
        query = transcript([m for m in messages if not (system_in_inputs and m.role in {"system", "developer"})])
    elif dialogue and (earlier_turns or settings.memory_mode is MemoryMode.CONVERSATION):
        query = seeded_query(dialogue, message_text, query_system)
    else:
        query = with_system_prompt(message_text, query_system)

    inputs = {**build_inputs(request, settings, form, query, system, caller), **(extra_inputs or {})}
    check_required_inputs(form, inputs)
    return DifyCall(settings.app_id, query, inputs, continuation.conversation_id if continuation else None, user,
                    list(files or []))
