"""`make gateway`'s demo (tools/gateway_demo.py): gunicorn over the emulator's Service API, one app per mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_serves_every_app_mode_text_generators_included():
    demo = subprocess.Popen([sys.executable, "-m", "tools.gateway_demo", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert demo.stdout is not None
        base_url = next(line.split(" : ")[1].strip() for line in demo.stdout if "Base URL" in line)
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-demo", max_retries=0, timeout=30)
        models = [m.id for m in client.models.list()]
        assert models == ["dify-chatflow", "dify-chatbot", "dify-agent", "dify-workflow", "dify-completion"]
        for model in models:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi there"}])
            assert reply.choices[0].message.content == "Hi there", model
    finally:
        demo.terminate()
        demo.wait(timeout=30)
