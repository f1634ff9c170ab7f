"""Legacy Completions end to end: the real plugin process and the `openai` SDK's `client.completions`."""

from __future__ import annotations

import openai
import pytest

from .conftest import scenario

pytestmark = pytest.mark.both_adapters


def app_calls(emu):
    return [r["request"] for r in emu.records if r["type"] == "app"]


def test_completion(emu, client):
    completion = client.completions.create(model="any-model", prompt="Complete this")
    assert completion.choices[0].text == "Complete this" and completion.choices[0].finish_reason == "stop"
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert completion.model == "any-model" and completion.usage.total_tokens > 0
    assert app_calls(emu)[-1]["query"] == "Complete this"


@pytest.mark.parametrize("mode", ["chat", "agent-chat", "advanced-chat", "workflow"])
def test_every_app_mode_streamed_and_not(emu, client, mode):
    form = {"user_input_form": [{"paragraph": {"variable": "query", "label": "Query", "required": True}}]}
    emu.load_scenario(scenario(mode=mode, parameters=form if mode == "workflow" else {}))
    assert client.completions.create(model="m", prompt="ping pong").choices[0].text == "ping pong"
    chunks = list(client.completions.create(model="m", prompt="streamed ping pong", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == "streamed ping pong"


def test_streamed_completion(client):
    chunks = list(client.completions.create(model="m", prompt=["Stream this prompt"], stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Stream this prompt"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_stop_sequence(client):
    completion = client.completions.create(model="m", prompt="keep this STOP not this", stop="STOP")
    assert completion.choices[0].text == "keep this "


def test_unsupported_options_are_bad_requests(client):
    for extra in ({"echo": True}, {"suffix": "tail"}, {"best_of": 3}, {"logprobs": 2}):
        with pytest.raises(openai.BadRequestError) as info:
            client.completions.create(model="m", prompt="x", **extra)
        assert info.value.body["param"] == next(iter(extra))
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="m", prompt=[1, 2, 3])


def test_error_mid_stream_raises(emu, client):
    events = [
        {"event": "message", "answer": "Partial ", "conversation_id": "c", "message_id": "m", "created_at": 1,
         "task_id": "t"},
        {"event": "error", "code": "completion_request_error", "message": "The model crashed", "status": 400},
    ]
    emu.load_scenario(scenario(replies=[{"events": events}]))
    with pytest.raises(openai.APIError, match="The model crashed"):
        list(client.completions.create(model="m", prompt="x", stream=True))
