"""Planning the Dify app call for a chat request: which query, which inputs, which conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .app_form import AppForm
from .errors import invalid_request
from .protocol import ChatCompletionRequest, ChatMessage
from .settings import EndpointSettings, MemoryMode
from .transcript import content_text, history_json, last_user_index, system_prompt, transcript, user_text

SEED_HISTORY_VARIABLE = "messages"


@dataclass(frozen=True)
class DifyCall:
    app_id: str
    query: str
    inputs: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None


def with_system_prompt(query: str, system: str) -> str:
    # A clear, stable frame so the app's model can tell instructions from the user's words.
    return f"[System instructions]\n{system}\n\n[User message]\n{query}" if system else query


def build_query(messages: list[ChatMessage], settings: EndpointSettings, system_in_inputs: bool) -> str:
    if settings.memory_mode is MemoryMode.ALL_MESSAGES:
        kept = [m for m in messages if not (system_in_inputs and m.role in {"system", "developer"})]
        return transcript(kept)
    last = messages[last_user_index(messages)]
    query = user_text(last) or content_text(last)
    return query if system_in_inputs else with_system_prompt(query, system_prompt(messages))


def build_inputs(request: ChatCompletionRequest, settings: EndpointSettings, form: AppForm, query: str,
                 system: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {**settings.app_inputs, **(request.inputs or {})}
    if form.has(settings.query_variable):
        inputs.setdefault(settings.query_variable, query)
    if system and form.has(settings.system_prompt_variable):
        inputs.setdefault(settings.system_prompt_variable, system)
    if form.has(SEED_HISTORY_VARIABLE):
        inputs.setdefault(SEED_HISTORY_VARIABLE, history_json(request.messages))
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


def plan_chat_call(request: ChatCompletionRequest, settings: EndpointSettings, form: AppForm) -> DifyCall:
    system = system_prompt(request.messages)
    system_in_inputs = bool(system) and form.has(settings.system_prompt_variable)
    query = build_query(request.messages, settings, system_in_inputs)
    if not query.strip():
        raise invalid_request("The last user message is empty; send some text.", "messages")
    inputs = build_inputs(request, settings, form, query, system)
    check_required_inputs(form, inputs)
    return DifyCall(settings.app_id, query, inputs)
