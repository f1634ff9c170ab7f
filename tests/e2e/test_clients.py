"""Other real client libraries against the same endpoint: LangChain and LiteLLM (which parse differently)."""

from __future__ import annotations

import os

import pytest

from .conftest import API_KEY, scenario

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download on import


def test_langchain_invoke_and_stream(emu):
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="dify-app", base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    reply = llm.invoke([SystemMessage("be brief"), HumanMessage("hello langchain")])
    assert reply.content.endswith("hello langchain")
    assert reply.usage_metadata["total_tokens"] > 0
    streamed = "".join(chunk.content for chunk in llm.stream("streaming langchain"))
    assert streamed == "streaming langchain"


def test_langchain_raises_on_mid_stream_error(emu):
    from langchain_openai import ChatOpenAI

    events = [{"event": "message", "answer": "so far", "conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10",
               "message_id": "m", "created_at": 1, "task_id": "t"},
              {"event": "error", "code": "completion_request_error", "message": "upstream broke", "status": 400}]
    emu.load_scenario(scenario(replies=[{"events": events}]))
    llm = ChatOpenAI(model="dify-app", base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    with pytest.raises(Exception, match="upstream broke"):
        "".join(chunk.content for chunk in llm.stream("x"))


def test_litellm_completion_and_stream(emu):
    import litellm

    kwargs = {"model": "openai/dify-app", "api_base": f"{emu.base_url}/v1", "api_key": API_KEY, "num_retries": 0}
    reply = litellm.completion(messages=[{"role": "user", "content": "hello litellm"}], **kwargs)
    assert reply.choices[0].message.content == "hello litellm"
    assert reply.usage.total_tokens > 0
    chunks = litellm.completion(messages=[{"role": "user", "content": "stream litellm"}], stream=True, **kwargs)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "stream litellm"


def test_litellm_reasoning_passes_through(emu):
    import litellm

    env = {"conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10", "message_id": "m", "created_at": 1,
           "task_id": "t"}
    events = [{"event": "message", "answer": "<think>hmm</think>Yes.", **env}, {"event": "message_end", **env}]
    emu.load_scenario(scenario(replies=[{"events": events}]))
    reply = litellm.completion(model="openai/dify-app", api_base=f"{emu.base_url}/v1", api_key=API_KEY,
                               messages=[{"role": "user", "content": "?"}], num_retries=0)
    assert reply.choices[0].message.content == "Yes."
    assert reply.choices[0].message.reasoning_content == "hmm"


def test_litellm_auth_error(emu):
    import litellm

    with pytest.raises(litellm.AuthenticationError):
        litellm.completion(model="openai/dify-app", api_base=f"{emu.base_url}/v1", api_key="sk-wrong",
                           messages=[{"role": "user", "content": "x"}], num_retries=0)
