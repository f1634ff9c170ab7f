"""Replaying recordings of a real Dify through the real plugin process: what the plugin answers an OpenAI client.

Each recording becomes the emulated app's scripted reply (its event dicts, as the daemon hands them to the plugin,
or the refusal text the SDK raises for a recorded HTTP error), with the app's recorded parameters; the plugin is then
asked through the `openai` package, streamed and not, and what it answered is summed up as an `Answer`.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

RECORDINGS = Path(__file__).resolve().parent / "recordings"
API_KEY = "sk-golden-replay"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
REFUSAL = "invoke app failed: request failed with status code: {} and respond with: {}"

# The recorded apps (README.md, llm/README.md): name -> (mode, its recorded fetch_app answer).
APPS: dict[str, tuple[str, str]] = {
    "a_echo": ("advanced-chat", "fetch_app.a_echo.json"),
    "b_workflow": ("workflow", "fetch_app.b_workflow.json"),
    "c_sysprompt_file": ("advanced-chat", "fetch_app.c_sysprompt_file.json"),
    "d_counter": ("advanced-chat", "fetch_app.d_counter.json"),
    "e_completion": ("completion", "fetch_app.e_completion.json"),
    "f_fail_workflow": ("workflow", "fetch_app.f_fail_workflow.json"),
    "f2_fail_chatflow": ("advanced-chat", "fetch_app.f2_fail_chatflow.json"),
    "g_chat": ("chat", "llm/fetch_app.g_chat.json"),
    "h_agent": ("agent-chat", "llm/fetch_app.h_agent.json"),
    "i_chatflow_llm": ("advanced-chat", "llm/fetch_app.i_chatflow_llm.json"),
    "j_chatflow_separated": ("advanced-chat", "llm/fetch_app.j_chatflow_separated.json"),
    "k_agent_react": ("agent-chat", "llm/fetch_app.k_agent_react.json"),
}


def parameters_of(app: str) -> dict[str, Any]:
    """What the plugin's fetch_app returns: the innermost object, both of Dify's `data` wrappers stripped."""
    return json.loads((RECORDINGS / APPS[app][1]).read_text())["data"]["data"]


def recorded_events(name: str) -> list[Any]:
    return [json.loads(line)["data"] for line in (RECORDINGS / name).read_text().splitlines() if line.strip()]


def recorded_reply(name: str) -> dict[str, Any]:
    """The scripted reply that makes the emulated app answer as the recording shows."""
    if ".http" in name:
        status = int(name.rsplit(".http", 1)[1][:3])
        return {"fail": REFUSAL.format(status, (RECORDINGS / name).read_text().strip())}
    return {"events": recorded_events(name)}


def scenario_for(app: str, reply: dict[str, Any]) -> dict[str, Any]:
    mode = APPS[app][0]
    return {
        "settings": {"api_key": API_KEY, "memory_mode": "last_user_message",
                     "app_id": {"app_id": f"{app}-{uuid.uuid4().hex[:8]}", "inputs": {}, "files": [],
                                "type": "app-selector"}},
        "app": {"mode": mode, "name": app, "parameters": parameters_of(app)},
        "replies": [reply],
    }


@dataclass(frozen=True)
class Answer:
    """What an OpenAI client got: its text, reasoning, finish reason, usage and ids, or the error it raised."""

    content: str = ""
    reasoning: str = ""
    finish: str = ""
    usage: tuple[int, int, int] = (0, 0, 0)
    conversation_id: str = ""
    id: str = ""
    status: int = 200  # the HTTP status; a stream that failed after it began is 200 with `error`
    error: str = ""  # the OpenAI error code


def user_message(image: str) -> dict[str, Any]:
    if not image:
        return {"role": "user", "content": "hello"}
    url = image if image.startswith("https://") else "data:image/png;base64," + base64.b64encode(PNG).decode()
    return {"role": "user", "content": [{"type": "text", "text": "what is this"},
                                        {"type": "image_url", "image_url": {"url": url}}]}


def ask_chat(client: openai.OpenAI, stream: bool, image: str = "") -> Answer:
    messages = [user_message(image)]
    try:
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=messages, stream=stream, **({"stream_options": {"include_usage": True}}
                                                            if stream else {}))
    except openai.APIStatusError as error:
        return Answer(status=error.status_code, error=error.body["code"])
    header = raw.headers.get("x-dify-conversation-id", "")
    if not stream:
        completion = raw.parse()
        message = completion.choices[0].message
        usage = completion.usage
        assert usage is not None
        body_id = getattr(completion, "conversation_id", None) or ""
        assert body_id == header, (body_id, header)
        return Answer(message.content or "", getattr(message, "reasoning_content", None) or "",
                      completion.choices[0].finish_reason,
                      (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), header, completion.id)
    content, reasoning, finish, usage_of, first_id, error = "", "", "", (0, 0, 0), "", ""
    ids = set()
    try:
        for chunk in raw.parse():
            ids.add(chunk.id)
            first_id = first_id or (getattr(chunk, "conversation_id", None) or "")
            if chunk.usage is not None:
                usage_of = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens)
            for choice in chunk.choices:
                content += choice.delta.content or ""
                reasoning += getattr(choice.delta, "reasoning_content", None) or ""
                finish = choice.finish_reason or finish
    except openai.APIError as failure:
        error = failure.body["code"] if isinstance(failure.body, dict) else "?"
    assert len(ids) <= 1, ids
    conversation_id = header or first_id
    assert not (header and first_id and header != first_id)
    return Answer(content, reasoning, finish, usage_of, conversation_id, next(iter(ids), ""), error=error)


def ask_responses(client: openai.OpenAI, stream: bool) -> Answer:
    try:
        raw = client.responses.with_raw_response.create(model="m", input="hello", stream=stream)
    except openai.APIStatusError as error:
        return Answer(status=error.status_code, error=error.body["code"])
    if stream:
        ended = [e for e in raw.parse() if e.type in {"response.completed", "response.incomplete",
                                                      "response.failed"}]
        assert len(ended) == 1, ended
        response = ended[0].response  # type: ignore[union-attr]
        if response.error is not None:
            return Answer(status=200, error=response.error.code, id=response.id)
    else:
        response = raw.parse()
    reasoning = "".join(s.text for item in response.output if item.type == "reasoning" for s in item.summary)
    usage = response.usage
    assert usage is not None
    finish = {"completed": "stop", "incomplete": "length"}.get(response.status or "", response.status or "")
    return Answer(response.output_text, reasoning, finish,
                  (usage.input_tokens, usage.output_tokens, usage.total_tokens),
                  raw.headers.get("x-dify-conversation-id", ""), response.id)


def ask_completions(client: openai.OpenAI, stream: bool) -> Answer:
    try:
        if stream:
            text, finish = "", ""
            for chunk in client.completions.create(model="m", prompt="hello", stream=True):
                for choice in chunk.choices:
                    text += choice.text
                    finish = choice.finish_reason or finish
            return Answer(text, finish=finish)
        completion = client.completions.create(model="m", prompt="hello")
    except openai.APIStatusError as error:
        return Answer(status=error.status_code, error=error.body["code"])
    return Answer(completion.choices[0].text, finish=completion.choices[0].finish_reason, id=completion.id)
