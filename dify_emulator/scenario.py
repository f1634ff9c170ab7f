"""Scenario files: what the emulated Dify workspace looks like (hook, endpoint settings, apps, replies).

Any key may be left out; what is left out comes from the demo scenario (dicts are merged deeply).
Beyond the contract (emulator.md), a scenario may also give:
- `app.id`: an extra id the main `app` answers to (it always answers to the app-selector settings' ids);
- `apps`: {"<app_id>": {"mode", "name", "parameters", "replies"}}, more apps, each with its own replies.
App modes are Dify's: chat, agent-chat, advanced-chat, workflow, completion (which the plugin path always
fails with a 500) and agent (newer Dify; refused with 400 "unexpected app type").
"""

import copy
import json
import os
from collections.abc import Mapping
from typing import Any

APP_MODES = ("chat", "agent-chat", "advanced-chat", "completion", "workflow", "agent")
CHAT_MODES = frozenset({"chat", "agent-chat", "advanced-chat"})
REPLY_KINDS = ("echo", "events", "fail", "blocking")

DEMO_SCENARIO: dict[str, Any] = {
    "hook_id": "demo",
    "settings": {
        "api_key": "sk-demo",
        "app_id": {"app_id": "app-demo", "inputs": {}, "files": [], "type": "app-selector"},
        "memory_mode": "last_user_message",
    },
    "app": {"mode": "chat", "name": "Demo", "parameters": {}},
    "replies": [{"echo": True}],
}


class ScenarioError(ValueError):
    """The scenario (file, dict or --set option) is not usable; the message says why."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`; nested dicts are merged, everything else (lists too) is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_scenario(source: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    """A complete scenario from a dict, a JSON file path or None (the demo)."""
    if source is None:
        raw: Any = {}
    elif isinstance(source, Mapping):
        raw = source
    else:
        try:
            with open(source, encoding="utf-8") as f:
                raw = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ScenarioError(f"cannot read scenario {os.fspath(source)!r}: {e}") from e
    if not isinstance(raw, Mapping):
        raise ScenarioError("a scenario must be a JSON object")
    scenario = deep_merge(DEMO_SCENARIO, raw)
    _validate(scenario)
    return scenario


def _validate(scenario: Mapping[str, Any]) -> None:
    hook_id = scenario["hook_id"]
    if not isinstance(hook_id, str) or not hook_id or "/" in hook_id:
        raise ScenarioError(f"hook_id must be a non-empty string without '/', got {hook_id!r}")
    if not isinstance(scenario["settings"], Mapping):
        raise ScenarioError("settings must be an object")
    apps = scenario.get("apps", {})
    if not isinstance(apps, Mapping):
        raise ScenarioError("apps must be an object mapping app ids to apps")
    _validate_app("app", scenario["app"], scenario["replies"])
    for app_id, app in apps.items():
        if not isinstance(app, Mapping):
            raise ScenarioError(f"apps.{app_id} must be an object")
        _validate_app(f"apps.{app_id}", app, app.get("replies", [{"echo": True}]))


def _validate_app(where: str, app: Mapping[str, Any], replies: Any) -> None:
    if app.get("mode", "chat") not in APP_MODES:
        raise ScenarioError(f"{where}.mode must be one of {', '.join(APP_MODES)}, got {app.get('mode')!r}")
    if not isinstance(replies, list) or not replies:
        raise ScenarioError(f"{where}: replies must be a non-empty list")
    for i, reply in enumerate(replies):
        if not isinstance(reply, Mapping) or not any(kind in reply for kind in REPLY_KINDS):
            raise ScenarioError(f"{where}: reply {i} must have one of {', '.join(REPLY_KINDS)}: {reply!r}")


def parse_assignment(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` from --set; `true`/`false` become booleans for boolean settings."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ScenarioError(f"--set expects NAME=VALUE, got {text!r}")
    return name, {"true": True, "false": False}.get(value, value)


def app_selector(app_id: str) -> dict[str, Any]:
    """An app-selector setting value as Dify stores it."""
    return {"app_id": app_id, "inputs": {}, "files": [], "type": "app-selector"}


def apply_settings(
    settings: Mapping[str, Any], overrides: Mapping[str, Any], selector_names: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Settings with overrides applied; a plain string given to an app-selector setting is an app id."""
    result = copy.deepcopy(dict(settings))
    for name, value in overrides.items():
        current = result.get(name)
        is_selector = name in selector_names or (isinstance(current, Mapping) and "app_id" in current)
        result[name] = app_selector(value) if is_selector and isinstance(value, str) else copy.deepcopy(value)
    return result


def selected_app_ids(settings: Mapping[str, Any]) -> list[str]:
    """The app ids that app-selector settings point at (the scenario's `app` answers to them)."""
    return [
        value["app_id"]
        for value in settings.values()
        if isinstance(value, Mapping) and value.get("type") == "app-selector" and isinstance(value.get("app_id"), str)
    ]
