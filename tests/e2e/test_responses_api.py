"""The Responses API end to end: the real plugin process, the `openai` SDK and the OpenAI Agents SDK."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner

from .conftest import API_KEY, scenario

pytestmark = pytest.mark.both_adapters

WORKFLOW_FORM = {"user_input_form": [{"paragraph": {"variable": "query", "label": "Query", "required": True}}]}
SYSTEM_FORM = {"user_input_form": [{"paragraph": {"variable": "system_prompt", "label": "System",
                                                  "required": False}}]}


def app_calls(emu):
    return [r["request"] for r in emu.records if r["type"] == "app"]


def test_create_returns_the_answer_as_output_text(emu, client):
    response = client.responses.create(model="any-model", input="Hello from the Responses API")
    assert response.output_text == "Hello from the Responses API"
    assert response.id.startswith("resp_") and response.status == "completed" and response.model == "any-model"
    assert response.output[-1].type == "message" and response.usage.total_tokens > 0
    assert app_calls(emu)[-1]["query"] == "Hello from the Responses API"


@pytest.mark.parametrize("mode", ["chat", "agent-chat", "advanced-chat", "workflow"])
def test_every_app_mode_streamed_and_not(emu, client, mode):
    emu.load_scenario(scenario(mode=mode, parameters=WORKFLOW_FORM if mode == "workflow" else {}))
    assert client.responses.create(model="m", input="ping pong").output_text == "ping pong"
    with client.responses.stream(model="m", input="streamed ping pong") as stream:
        final = stream.get_final_response()
    assert final.output_text == "streamed ping pong" and final.usage.total_tokens > 0


def test_streaming_events_and_the_stream_helper(client):
    events = list(client.responses.create(model="m", input="Stream me please", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Stream me please"
    assert [e.sequence_number for e in events] == list(range(len(events)))

    with client.responses.stream(model="m", input="Through the helper") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Through the helper" and final.output_text == "Through the helper"


def test_previous_response_id_lands_in_one_dify_conversation(emu, client):
    emu.load_scenario(scenario(memory_mode="conversation"))
    first = client.responses.with_raw_response.create(model="m", input="My name is Ada.")
    conversation_id = first.headers["x-dify-conversation-id"]
    emu.restart_plugin()  # the response id -> conversation map lives in plugin storage, not in the process
    second = client.responses.create(model="m", input="What is my name?", previous_response_id=first.parse().id)
    assert second.previous_response_id == first.parse().id and second.output_text == "What is my name?"
    calls = app_calls(emu)
    assert len(calls) == 2 and not calls[0]["conversation_id"]
    assert calls[1]["conversation_id"] == conversation_id and calls[1]["query"] == "What is my name?"
    assert emu.conversations[conversation_id]["queries"] == ["My name is Ada.", "What is my name?"]


def test_previous_response_id_while_streaming(emu, client):
    emu.load_scenario(scenario(memory_mode="conversation"))
    with client.responses.stream(model="m", input="first") as stream:
        first = stream.get_final_response()
    with client.responses.stream(model="m", input="second", previous_response_id=first.id) as stream:
        assert stream.get_final_response().output_text == "second"
    _, second_call = app_calls(emu)
    assert second_call["conversation_id"] and second_call["query"] == "second"


def test_unknown_previous_response_id_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="m", input="x", previous_response_id="resp_unknown")
    assert info.value.body["param"] == "previous_response_id"


def test_instructions_reach_the_query_or_the_system_prompt_input(emu, client):
    client.responses.create(model="m", input="hello", instructions="Answer in French.")
    assert app_calls(emu)[-1]["query"] == "[System instructions]\nAnswer in French.\n\n[User message]\nhello"
    emu.load_scenario(scenario(parameters=SYSTEM_FORM))
    response = client.responses.create(model="m", input="hello", instructions="Answer in French.")
    call = app_calls(emu)[-1]
    assert call["inputs"]["system_prompt"] == "Answer in French." and call["query"] == "hello"
    assert response.instructions == "Answer in French." and response.output_text == "hello"


def test_error_event_mid_stream_is_response_failed(emu, client):
    events = [
        {"event": "message", "answer": "Partial ", "conversation_id": "c", "message_id": "m", "created_at": 1,
         "task_id": "t"},
        {"event": "error", "code": "completion_request_error", "message": "The model crashed", "status": 400},
    ]
    emu.load_scenario(scenario(replies=[{"events": events}]))
    received = list(client.responses.create(model="m", input="x", stream=True))
    assert received[-1].type == "response.failed"
    assert received[-1].response.status == "failed" and "The model crashed" in received[-1].response.error.message
    assert not any(e.type == "response.completed" for e in received)


def test_failure_before_the_run_is_an_http_error(emu, client):
    emu.load_scenario(scenario(replies=[{"fail": 'invoke app failed: request failed with status code: 400 and '
                                                 'respond with: {"code": "invalid_param", "message": '
                                                 '"Model is not configured", "status": 400}'}]))
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model="m", input="x", stream=stream)
        assert "Model is not configured" in info.value.message


def test_client_tools_are_ignored_but_cannot_be_forced(client):
    # Codex CLI declares its shell and patch tools on every request; the app answers in text.
    tool = {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}}
    assert client.responses.create(model="m", input="run ls", tools=[tool]).output_text == "run ls"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="m", input="x", tools=[tool], tool_choice="required")
    assert info.value.body["param"] == "tool_choice"


def test_retrieve_says_responses_are_not_stored(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve("resp_anything")
    assert "does not store responses" in info.value.message


def test_raw_stream_uses_event_lines(emu):
    with httpx.stream("POST", f"{emu.base_url}/responses", headers={"Authorization": f"Bearer {API_KEY}"},
                      json={"model": "m", "input": "raw", "stream": True}, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line and not line.startswith(":")]
    assert lines[0] == "event: response.created" and lines[-2] == "event: response.completed"
    assert "[DONE]" not in "".join(lines)


def test_openai_agents_runner_gets_the_echo(emu):
    emu.load_scenario(scenario(parameters=SYSTEM_FORM))

    async def run() -> str:
        client = openai.AsyncOpenAI(base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
        agent = Agent(name="Echo", instructions="Repeat the user's words.",
                      model=OpenAIResponsesModel(model="dify-app", openai_client=client))
        result = await Runner.run(agent, "Hello from an agent", run_config=RunConfig(tracing_disabled=True))
        await client.close()
        return result.final_output

    assert asyncio.run(asyncio.wait_for(run(), timeout=60)) == "Hello from an agent"
    call = app_calls(emu)[-1]
    assert call["query"] == "Hello from an agent" and call["inputs"]["system_prompt"] == "Repeat the user's words."
