"""The official OpenAI Node SDK, v4 and v7, against the endpoint (`make test` installs them with npm)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.components import require

from .conftest import API_KEY, scenario

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
VERSIONS = ["openai-v4", "openai-v7"]



@pytest.fixture(autouse=True)
def node_sdks() -> None:
    require(shutil.which("node") is not None and (NODE_DIR / "node_modules").is_dir(),
            "Node.js with the SDKs of `npm ci --prefix tests/node` (the Makefile runs it when npm is present)")


def run_node(package, base_url, key, what):
    result = subprocess.run(["node", "client_check.mjs", package, f"{base_url}/v1", key, what], cwd=NODE_DIR,
                            capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", VERSIONS)
def test_node_sdk_stream_and_not(emu, package):
    out = run_node(package, emu.base_url, API_KEY, "echo")
    assert out["whole"]["ok"]["content"] == "hello from node" and out["whole"]["ok"]["finish"] == "stop"
    assert out["stream"]["ok"]["content"] == "hello from node" and out["stream"]["ok"]["finish"] == "stop"
    assert out["stream"]["ok"]["usage"]["total_tokens"] > 0
    assert out["models"]["ok"] == ["dify-app"]


@pytest.mark.parametrize("package", VERSIONS)
def test_node_sdk_sees_errors(emu, package):
    events = [{"event": "message", "answer": "partial", "conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10",
               "message_id": "m", "created_at": 1, "task_id": "t"},
              {"event": "error", "code": "completion_request_error", "message": "model went away", "status": 400}]
    emu.load_scenario(scenario(replies=[{"events": events}]))
    out = run_node(package, emu.base_url, API_KEY, "errors")
    assert "model went away" in out["stream"]["error"]["message"]
    assert out["whole"]["error"]["status"] == 502 and "model went away" in out["whole"]["error"]["message"]
    denied = run_node(package, emu.base_url, "sk-wrong", "echo")
    assert denied["whole"]["error"]["status"] == 401 and denied["whole"]["error"]["name"] == "AuthenticationError"
