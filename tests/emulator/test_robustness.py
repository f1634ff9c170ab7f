"""A hand-written plugin that speaks the stdio protocol badly: the emulator must shrug it off."""

from pathlib import Path

import pytest
import requests

from dify_emulator import Emulator

from .conftest import HTTP_TIMEOUT

ROUGH_PLUGIN = r'''
import json, sys

def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n\n")
    sys.stdout.flush()

def session(sid, kind, data):
    emit({"event": "session", "session_id": sid, "data": {"type": kind, "data": data}})

sys.stdout.write(json.dumps({"version": "0.0.1", "type": "plugin"}) + "\n\n")
sys.stdout.write("this is not json\n[1, 2]\n")
emit({"event": "heartbeat", "session_id": None, "data": {}})
emit({"event": "mystery", "session_id": None, "data": {}})
emit({"event": "log", "session_id": None, "data": {"level": "INFO", "message": "rough plugin up"}})

for line in sys.stdin:
    message = json.loads(line)
    sid = message["session_id"]
    if message["event"] == "request":
        session("unknown-session", "stream", {"result": "00"})
        session(sid, "stream", "not a dict")
        session(sid, "weird", {})
        session(sid, "invoke", {"type": "tool", "backwards_request_id": "r1", "request": {"x": 1}})
    elif message["data"]["event"] == "error":
        reply = message["data"]["message"].encode()
        session(sid, "stream", {"status": 201, "headers": {"X-A": "1", "x-a": "2", "Connection": "keep-alive"}})
        session(sid, "stream", {"result": "zz"})
        session(sid, "stream", {"result": reply.hex()})
    elif message["data"]["event"] == "end":
        session(sid, "end", {})
'''


@pytest.fixture(scope="module")
def rough(tmp_path_factory) -> Emulator:
    plugin_dir: Path = tmp_path_factory.mktemp("rough_plugin")
    (plugin_dir / "main.py").write_text(ROUGH_PLUGIN)
    with Emulator(plugin_dir=plugin_dir) as emulator:
        yield emulator


def test_malformed_output_is_ignored_and_unsupported_invocations_fail(rough):
    response = requests.get(rough.base_url + "/anything", timeout=HTTP_TIMEOUT)
    assert response.status_code == 201
    assert response.headers["X-A"] == "1"  # first value wins, like the daemon
    assert response.text == "unsupported backwards invocation: tool"
    assert rough.records == [{"type": "tool", "request": {"x": 1}}]
    # Still serving.
    assert requests.get(rough.base_url + "/again", timeout=HTTP_TIMEOUT).status_code == 201


def test_scenario_errors_raise_before_start():
    from dify_emulator import ScenarioError

    with pytest.raises(ScenarioError):
        Emulator(scenario={"replies": "nope"})


def test_startup_failure_has_the_stderr_tail(tmp_path):
    from dify_emulator import PluginStartError

    (tmp_path / "main.py").write_text("raise SystemExit('plugin refuses: ' + 'bad manifest')")
    with pytest.raises(PluginStartError, match="plugin refuses: bad manifest"):
        Emulator(plugin_dir=tmp_path).start()


def test_startup_timeout(tmp_path):
    from dify_emulator import PluginStartError

    (tmp_path / "main.py").write_text("import time\nprint('{}', flush=True)\ntime.sleep(30)\n")
    with pytest.raises(PluginStartError, match="no heartbeat within"):
        Emulator(plugin_dir=tmp_path, startup_timeout=1).start()

