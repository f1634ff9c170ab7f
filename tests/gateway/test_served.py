"""The gateway as it is deployed: `python -m gateway` (gunicorn, two workers, one SQLite file) over the emulated
Service API, driven by the openai SDK, LangChain and LiteLLM for every app mode."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from dify_emulator.service_api import ServiceApiEmulator
from tools.gateway_demo import DEMO_KEY, DEMO_MODELS, demo_config, demo_scenario

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download on import
ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
MODES = list(DEMO_MODELS)


class Served:
    def __init__(self, api: ServiceApiEmulator, base_url: str) -> None:
        self.api, self.base_url = api, base_url

    def runs(self) -> list[dict]:
        return [r for r in self.api.records if r["type"] in {"chat-messages", "completion-messages", "workflows/run"}]


@contextlib.contextmanager
def gateway_process(api: ServiceApiEmulator, folder: Path, worker_class: str = "gthread",
                    workers: int = 2) -> Iterator[str]:
    """`python -m gateway` over `api` on a free port; its base URL."""
    config = folder / "gateway.toml"
    config.write_text(demo_config(api, str(folder / "state.sqlite3"), "127.0.0.1:0", workers=workers))
    process = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), "--worker-class",
                                worker_class], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        printed = process.stdout.readline().strip()
        assert printed.startswith("http://127.0.0.1:") and not printed.endswith(":0"), printed
        yield printed
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with ServiceApiEmulator(scenario=demo_scenario()) as api, \
            gateway_process(api, tmp_path_factory.mktemp("served")) as base_url:
        yield Served(api, base_url)


def test_gevent_workers_serve_whole_answers_and_streams(tmp_path):
    with ServiceApiEmulator(scenario=demo_scenario()) as api, \
            gateway_process(api, tmp_path, worker_class="gevent", workers=1) as base_url:
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=DEMO_KEY, max_retries=0, timeout=30)
        reply = client.chat.completions.create(model="dify-chatflow", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "hi"
        chunks = client.chat.completions.create(model="dify-agent", stream=True,
                                                messages=[{"role": "user", "content": "streamed"}])
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed"


@pytest.fixture
def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.base_url}/v1", api_key=DEMO_KEY, max_retries=0, timeout=30)


@pytest.mark.parametrize("model", MODES)
def test_openai_sdk_chat_responses_and_completions(client, model):
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"hi {model}"}])
    assert reply.choices[0].message.content == f"hi {model}" and reply.model == model
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=model, stream=True, messages=[{"role": "user", "content": "streamed"}]) if c.choices)
    assert streamed == "streamed"
    assert client.responses.create(model=model, input="responses").output_text == "responses"
    assert client.completions.create(model=model, prompt="legacy").choices[0].text == "legacy"


@pytest.mark.parametrize("model", MODES)
def test_langchain(served, model):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=model, base_url=f"{served.base_url}/v1", api_key=DEMO_KEY, max_retries=0, timeout=30)
    assert llm.invoke("hello langchain").content == "hello langchain"
    assert "".join(str(chunk.content) for chunk in llm.stream("streaming langchain")) == "streaming langchain"


@pytest.mark.parametrize("model", MODES)
def test_litellm(served, model):
    import litellm

    reply = litellm.completion(model=f"openai/{model}", api_base=f"{served.base_url}/v1", api_key=DEMO_KEY,
                               messages=[{"role": "user", "content": "hello litellm"}])
    assert reply.choices[0].message.content == "hello litellm"
    chunks = litellm.completion(model=f"openai/{model}", api_base=f"{served.base_url}/v1", api_key=DEMO_KEY,
                                messages=[{"role": "user", "content": "streaming litellm"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "streaming litellm"


def test_a_conversation_continues_whichever_worker_serves_each_turn(served, client):
    """Two workers share the SQLite file: every turn continues the first turn's Dify conversation."""
    messages = [{"role": "user", "content": "turn 0"}]
    for turn in range(1, 6):
        answer = client.chat.completions.create(model="dify-chatflow", messages=messages).choices[0].message
        messages += [{"role": "assistant", "content": answer.content}, {"role": "user", "content": f"turn {turn}"}]
    client.chat.completions.create(model="dify-chatflow", messages=messages)
    calls = [r["request"] for r in served.runs() if r["request"].get("query", "").startswith("turn")][-6:]
    conversations = {c["conversation_id"] for c in calls[1:]}
    assert calls[0]["conversation_id"] == "" and len(conversations) == 1 and "" not in conversations
    assert [c["query"] for c in calls] == [f"turn {n}" for n in range(6)]


def test_an_image_reaches_the_querys_files(served, client):
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    client.chat.completions.create(model="dify-chatbot", user="erin", messages=[{"role": "user", "content": [
        {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}]}])
    run = served.runs()[-1]
    assert run["user"] == "erin"
    files = run["request"]["files"]
    assert [f["transfer_method"] for f in files] == ["local_file"] and files[0]["type"] == "image"
    upload = next(u for u in served.api.uploads if u["id"] == files[0]["upload_file_id"])
    assert upload["content"] == PNG


def test_a_client_that_goes_away_stops_the_run(served):
    served.api.load_scenario(demo_scenario(delay_ms=200))
    try:
        served.api.records.clear()
        body = {"model": "dify-chatflow", "stream": True,
                "messages": [{"role": "user", "content": "a long answer " * 20}]}
        with httpx.stream("POST", f"{served.base_url}/v1/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {DEMO_KEY}"}) as response:
            assert response.status_code == 200
            next(response.iter_bytes())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not [r for r in served.api.records if r["type"] == "stop"]:
            time.sleep(0.1)
        stops = [r for r in served.api.records if r["type"] == "stop"]
        assert len(stops) == 1 and stops[0]["user"] == served.runs()[-1]["user"]
    finally:
        served.api.load_scenario(demo_scenario())


def test_a_wrong_client_key_is_refused(served):
    bad = openai.OpenAI(base_url=f"{served.base_url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
