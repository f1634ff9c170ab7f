"""Every Dify app mode, streamed and not, through the real plugin and the strict `openai` client."""

from __future__ import annotations

import json

import openai
import pytest

from .conftest import recording, scenario

pytestmark = pytest.mark.both_adapters

MODES = ["chat", "agent-chat", "advanced-chat", "workflow"]
WORKFLOW_FORM = {"user_input_form": [{"paragraph": {"variable": "query", "label": "Query", "required": True}}]}


def load_mode(emu, mode, replies=None, **settings):
    parameters = WORKFLOW_FORM if mode == "workflow" else {}
    emu.load_scenario(scenario(mode=mode, replies=replies, parameters=parameters, **settings))


def streamed(client, text="Tell me everything", **kwargs):
    chunks = list(client.chat.completions.create(model="m", stream=True, stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": text}], **kwargs))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return content, reasoning, finish, chunks


@pytest.mark.parametrize("mode", MODES)
def test_echo_in_every_mode(emu, client, mode):
    load_mode(emu, mode)
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "ping pong"}])
    assert completion.choices[0].message.content == "ping pong"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0
    content, _, finish, chunks = streamed(client, "streamed ping pong")
    assert content == "streamed ping pong" and finish == ["stop"]
    assert chunks[-1].usage.total_tokens > 0


def test_workflow_gets_the_text_in_its_query_variable(emu, client):
    load_mode(emu, "workflow")
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "for the workflow"}])
    app_call = [r for r in emu.records if r["type"] == "app"][-1]
    assert app_call["request"]["inputs"]["query"] == "for the workflow"


def test_workflow_without_streamed_text_answers_from_outputs(emu, client):
    events = [{"event": "workflow_started", "workflow_run_id": "w1", "task_id": "t", "data": {}},
              {"event": "workflow_finished", "workflow_run_id": "w1", "task_id": "t",
               "data": {"status": "succeeded", "outputs": {"summary": "short", "count": 2}, "total_tokens": 7}}]
    load_mode(emu, "workflow", replies=[{"events": events}], output_variable="summary")
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "short" and completion.usage.total_tokens == 7


def test_failed_workflow_is_an_error(emu, client):
    events = [{"event": "workflow_started", "workflow_run_id": "w1", "task_id": "t", "data": {}},
              {"event": "workflow_finished", "workflow_run_id": "w1", "task_id": "t",
               "data": {"status": "failed", "error": "Code node raised ZeroDivisionError", "outputs": None}}]
    load_mode(emu, "workflow", replies=[{"events": events}])
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502 and "ZeroDivisionError" in info.value.message


def test_agent_steps_and_think_blocks(emu, client):
    env = {"conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10", "message_id": "m1", "created_at": 1,
           "task_id": "t"}
    events = [
        {"event": "agent_thought", "id": "a1", "position": 1, "thought": "", "tool": "weather",
         "tool_input": '{"city": "Paris"}', "observation": "", **env},
        {"event": "agent_thought", "id": "a1", "position": 1, "thought": "", "tool": "weather",
         "tool_input": '{"city": "Paris"}', "observation": "sunny, 21C", **env},
        {"event": "agent_message", "answer": "<think>user wants", **env},
        {"event": "agent_message", "answer": " weather</think>It is sunny.", **env},
        {"event": "message_end", "metadata": {"usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                                        "total_tokens": 3}}, **env},
    ]
    load_mode(emu, "agent-chat", replies=[{"events": events}])
    content, reasoning, _, _ = streamed(client)
    assert content == "It is sunny."
    assert 'Calling tool weather with {"city": "Paris"}' in reasoning and "sunny, 21C" in reasoning
    assert "user wants weather" in reasoning
    message = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert message.choices[0].message.content == "It is sunny."
    assert "user wants weather" in message.choices[0].message.reasoning_content

    load_mode(emu, "agent-chat", replies=[{"events": events}], show_agent_steps=False, reasoning_mode="drop")
    content, reasoning, _, _ = streamed(client)
    assert content == "It is sunny." and reasoning == ""
    load_mode(emu, "agent-chat", replies=[{"events": events}], reasoning_mode="inline", show_agent_steps=False)
    content, reasoning, _, _ = streamed(client)
    assert content == "<think>user wants weather</think>It is sunny." and reasoning == ""


def test_chatflow_quirks(emu, client):
    env = {"conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10", "message_id": "m2", "created_at": 1700000001,
           "task_id": "t"}
    events = [
        {"event": "workflow_started", "data": {"id": "r"}, **env},
        {"event": "node_started", "data": {"node_type": "llm"}, **env},
        {"event": "iteration_started", "data": {}, **env},
        {"event": "reasoning_chunk", "data": {"reasoning": "thinking hard", "is_final": True}, **env},
        {"event": "message", "answer": "The ", **env},
        {"event": "message_file", "answer": "answer", **env},
        {"event": "tts_message", "audio": "AAAA", **env},
        {"event": "message_end", "metadata": {"usage": {"prompt_tokens": 4, "completion_tokens": 2,
                                                        "total_tokens": 6}}, "files": [], **env},
        {"event": "workflow_finished", "data": {"status": "succeeded", "outputs": {"answer": "The answer"}}, **env},
    ]
    load_mode(emu, "advanced-chat", replies=[{"events": events}])
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "The answer"
    assert completion.choices[0].message.reasoning_content == "thinking hard"
    assert completion.id == "chatcmpl-m2" and completion.created == 1700000001
    assert completion.usage.prompt_tokens == 4


def test_chatflow_run_failure(emu, client):
    env = {"conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10", "message_id": "m3", "created_at": 1,
           "task_id": "t"}
    events = [{"event": "workflow_started", "data": {}, **env},
              {"event": "message", "answer": "partial", **env},
              {"event": "workflow_finished", "data": {"status": "failed", "error": "HTTP node timed out"}, **env},
              {"event": "error", "code": "invalid_param", "message": "Run failed: HTTP node timed out",
               "status": 400}]
    load_mode(emu, "advanced-chat", replies=[{"events": events}])
    with pytest.raises(openai.APIError) as info:
        streamed(client)
    assert "HTTP node timed out" in str(info.value)


def test_message_replace(emu, client):
    env = {"conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10", "message_id": "m4", "created_at": 1,
           "task_id": "t"}
    events = [{"event": "message", "answer": "something flagged", **env},
              {"event": "message_replace", "answer": "I can't answer that.", "reason": "output_moderation", **env},
              {"event": "message_end", **env}]
    load_mode(emu, "chat", replies=[{"events": events}])
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "I can't answer that."
    assert completion.choices[0].finish_reason == "content_filter"
    content, _, finish, _ = streamed(client)
    assert content.endswith("I can't answer that.") and finish == ["content_filter"]


def test_assistant_files_become_links(emu, client):
    env = {"conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10", "message_id": "m5", "created_at": 1,
           "task_id": "t"}
    events = [{"event": "message", "answer": "Here is your chart.", **env},
              {"event": "message_file", "id": "f1", "type": "image", "belongs_to": "assistant",
               "url": "https://dify.test/files/chart.png", **env},
              {"event": "message_end", "files": [{"id": "f1", "type": "image", "url":
                                                  "https://dify.test/files/chart.png"}], **env}]
    load_mode(emu, "chat", replies=[{"events": events}])
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "Here is your chart.\n\n![image](https://dify.test/files/chart.png)"


@pytest.mark.plugin_only  # the gateway runs text generators (tests/gateway/test_service_api.py)
def test_text_generator_failure_is_explained(emu, client):
    # What a real Dify 1.14.1 answers for a text-generator app on the plugin path (e_completion_chat.http500.json):
    # the body says only "Internal Server Error"; the app's form (no opening statement) tells the rest.
    body = recording("e_completion_chat.http500.json")
    failure = f"invoke app failed: request failed with status code: 500 and respond with: {body}"
    parameters = json.loads(recording("fetch_app.e_completion.json"))["data"]["data"]
    emu.load_scenario(scenario(mode="completion", replies=[{"fail": failure}], parameters=parameters))
    for create in (lambda: client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]),
                   lambda: client.responses.create(model="m", input="x"),
                   lambda: client.completions.create(model="m", prompt="x")):
        with pytest.raises(openai.InternalServerError) as info:
            create()
        assert info.value.body["code"] == "app_mode_unsupported"
        assert "text generator" in info.value.body["message"] and "chatflow" in info.value.body["message"]
        assert info.value.response.headers["x-should-retry"] == "false"


