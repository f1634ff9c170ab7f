"""The gateway's configuration: a TOML file and GATEWAY_* variables, and a clear error for each mistake."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load, parse
from openai_bridge.settings import MemoryMode, parse_settings

FILE = """
dify_url = "https://dify.example.com/v1/"
client_keys = ["sk-a", "sk-b"]
listen = "0.0.0.0:9000"
workers = 3

[storage]
redis = "redis://127.0.0.1:6379/0"

[timeouts]
read = 120

[options]
citations = "markdown"
user_variable = "user"

[[models]]
name = "support"
app_key = "app-support"

[[models]]
name = "writer"
app_key = "app-writer"
memory_mode = "all_messages"
inputs = { tone = "dry" }
"""


def test_a_full_file(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(FILE)
    config = load(str(path), {})
    assert config.dify_url == "https://dify.example.com/v1" and config.client_keys == ("sk-a", "sk-b")
    assert (config.listen, config.workers, config.redis_url) == ("0.0.0.0:9000", 3, "redis://127.0.0.1:6379/0")
    assert config.timeouts.read == 120 and config.timeouts.connect == 10
    settings = parse_settings(config.settings("sk-b"))
    assert settings.api_key == "sk-b" and settings.citations.value == "markdown" and settings.user_variable == "user"
    assert [(a.model_name, a.memory_mode) for a in settings.apps] == [
        ("support", MemoryMode.CONVERSATION), ("writer", MemoryMode.ALL_MESSAGES)]
    assert settings.apps[1].app_inputs == {"tone": "dry"}
    assert config.model_for_app(settings.apps[1].app_id).app_key == "app-writer"
    assert "app-writer" not in settings.apps[1].app_id and "app-writer" not in repr(config)


def test_environment_variables_alone_are_enough():
    config = load(None, {"GATEWAY_DIFY_URL": "http://dify:5001/v1", "GATEWAY_CLIENT_KEYS": "k1, k2",
                         "GATEWAY_MODELS": "a=app-1,b=app-2", "GATEWAY_LISTEN": "127.0.0.1:8100",
                         "GATEWAY_SQLITE_PATH": "/tmp/x.db", "GATEWAY_WORKERS": "4"})
    assert [m.name for m in config.models] == ["a", "b"] and config.client_keys == ("k1", "k2")
    assert (config.listen, config.sqlite_path, config.workers, config.redis_url) == (
        "127.0.0.1:8100", "/tmp/x.db", 4, "")


def test_environment_variables_override_the_file(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(FILE)
    config = load(str(path), {"GATEWAY_CLIENT_KEYS": "sk-env", "GATEWAY_REDIS_URL": ""})
    assert config.client_keys == ("sk-env",) and config.redis_url == ""


BASE = {"dify_url": "http://d/v1", "client_keys": ["k"], "models": [{"name": "m", "app_key": "app-1"}]}


@pytest.mark.parametrize(("change", "says"), [
    ({"dify_url": "dify.example.com"}, "dify_url"),
    ({"client_keys": []}, "client_keys"),
    ({"client_keys": [1]}, "client_keys"),
    ({"models": []}, "no models"),
    ({"models": [{"name": "m"}]}, "app_key"),
    ({"models": [{"name": "m", "app_key": "a"}, {"name": "m", "app_key": "b"}]}, "same name"),
    ({"models": [{"name": f"m{i}", "app_key": f"a{i}"} for i in range(6)]}, "at most 5"),
    ({"models": [{"name": "m", "app_key": "a", "memory_mode": "forever"}]}, "memory_mode"),
    ({"models": [{"name": "m", "app_key": "a", "colour": "red"}]}, "models[0].colour is not an option"),
    ({"models": [{"name": "m", "app_key": "a", "citations": 1}]}, "models[0].citations must be a str"),
    ({"models": [{"name": "m", "app_key": "a", "cors_allow_origins": "*"}]}, "[options]"),
    ({"options": {"colour": "red"}}, "options.colour"),
    ({"options": {"show_agent_steps": "yes"}}, "options.show_agent_steps"),
    ({"timeouts": {"read": 0}}, "timeouts.read"),
    ({"storage": {"redis": "localhost:6379"}}, "storage.redis"),
    ({"listen": "8001"}, "listen"),
    ({"memory_mode": "conversation"}, "unknown keys: memory_mode"),
    ({"workers": 0}, "workers"),
])
def test_each_mistake_is_named(change, says):
    with pytest.raises(ConfigError, match=None) as info:
        parse({**BASE, **change}, {})
    assert says in str(info.value)


def test_an_unreadable_or_invalid_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path / "missing.toml"), {})
    bad = tmp_path / "bad.toml"
    bad.write_text("dify_url = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(str(bad), {})


def test_a_models_own_options_apply_to_it_alone():
    config = parse({**BASE, "options": {"citations": "off", "user_variable": "who"}, "models": [
        {"name": "plain", "app_key": "app-1"},
        {"name": "cited", "app_key": "app-2", "citations": "markdown", "reasoning_mode": "drop"},
        {"name": "tasks", "app_key": "app-3", "background_tasks": "app"}]}, {})
    settings = parse_settings(config.settings("k"))
    plain, cited, tasks = (settings.serving(name) for name in ("plain", "cited", "tasks"))
    assert (plain.citations, plain.reasoning_mode, plain.user_variable) == ("off", "split", "who")
    assert (cited.citations, cited.reasoning_mode, cited.user_variable) == ("markdown", "drop", "who")
    assert (tasks.citations, tasks.background_tasks) == ("off", "app")
    assert settings.serving("unknown").citations == "off"  # the main model's
