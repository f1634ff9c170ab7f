"""`make run`'s demo (tools/demo.py): the real plugin behind the emulator, five apps behind one endpoint."""

from __future__ import annotations

import subprocess
import sys

import openai

from .conftest import ROOT


def test_the_demo_serves_five_apps_with_memory_and_sources():
    demo = subprocess.Popen([sys.executable, "-m", "tools.demo", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert demo.stdout is not None
        base_url = next(line.split(" : ")[1].strip() for line in demo.stdout if "Base URL" in line)
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-demo", max_retries=0, timeout=30)
        assert [m.id for m in client.models.list()] == [
            "dify-app", "dify-agent", "dify-chatflow", "dify-workflow", "dify-knowledge"]
        first = client.chat.completions.with_raw_response.create(
            model="dify-app", messages=[{"role": "user", "content": "Hello"}])
        answer = first.parse().choices[0].message.content
        again = client.chat.completions.with_raw_response.create(model="dify-app", messages=[
            {"role": "user", "content": "Hello"}, {"role": "assistant", "content": answer},
            {"role": "user", "content": "Hello again"}])
        assert again.headers["x-dify-conversation-id"] == first.headers["x-dify-conversation-id"]
        cited = client.chat.completions.create(model="dify-knowledge", messages=[{"role": "user", "content": "leave?"}])
        assert cited.choices[0].message.annotations[0].url_citation.url == "https://example.com/remote-work"
        timed = client.chat.completions.create(model="dify-agent", messages=[{"role": "user", "content": "time?"}])
        assert "current_time" in timed.choices[0].message.content
    finally:
        demo.terminate()
        demo.wait(timeout=30)
