"""Scenario files: what the emulated Dify workspace looks like (hook, endpoint settings, apps, replies).

Any key may be left out; what is left out comes from the demo scenario (dicts are merged deeply).
Beyond the contract (emulator.md), a scenario may also give (dify_emulator/README.md has the details):
- `app.id`: an extra id the main `app` answers to (it always answers to the app-selector settings' ids);
- `apps`: {"<app_id>": {"mode", "name", "parameters", "replies", ...}}, more apps, each with its own replies;
- `reachable_urls`: URL prefixes a `remote_url` file input may have (else it fails as on a Dify without network);
- what an app computes when a reply is `{"echo": true}`, so that its own output can be compared with Dify's:
  - `graph` (advanced-chat, workflow): a list of nodes, each fed by the one before it:
    `{"id", "type", "title"?, ...}` with type `start`; `assigner` (`items`: [{"variable_selector":
    ["conversation", NAME], "operation": "+=" | "-=" | "*=" | "/=" | "set" | "over-write" | "clear",
    "value"}]); `template-transform` (`variables`: {NAME: SELECTOR}, `template` with `{{ NAME }}`,
    `error`: fail with this text); `llm` (`model`, `system`, `prompt` (a Dify template), `memory`,
    `reasoning_format`: "tagged" | "separated"); `answer` (`answer`: a Dify template such as
    `echo: {{#sys.query#}}`, advanced-chat only); `end` (`outputs`: {NAME: SELECTOR}, workflow only).
    Default: start, an `llm` with the echo model, then `answer` `{{#llm.text#}}` (or `end` answer=llm.text);
  - `conversation_variables` (advanced-chat): {NAME: initial value};
  - `model` (chat, agent-chat; also an `llm` node's): {"provider", "name", "script": "echo" | "fake"};
    default the echo model;
  - `pre_prompt` (chat, agent-chat): the app's instructions, sent as the system message;
  - `agent` (agent-chat): {"strategy": "function_call" | "react", "tools": ["current_time"]};
  - `knowledge` (chat-type apps): passages its knowledge retrieval finds on every turn, [{"content",
    "document_name"?, "dataset_name"?, "score"?, "doc_metadata"?}]; message_end lists them as retriever resources
    when the app's `parameters.retriever_resource.enabled` (Citations and Attributions) is on.
App modes are Dify's: chat, agent-chat, advanced-chat, workflow, completion (which the plugin path always
fails with a 500) and agent (newer Dify; refused with 400 "unexpected app type").
"""

import copy
import json
import os
from collections.abc import Mapping
from typing import Any

from .graph import ASSIGNER_OPERATIONS, NODE_TYPES
from .llm import SCRIPTS
from .model_apps import AGENT_STRATEGIES, TOOLS

APP_MODES = ("chat", "agent-chat", "advanced-chat", "completion", "workflow", "agent")
CHAT_MODES = frozenset({"chat", "agent-chat", "advanced-chat"})
GRAPH_MODES = frozenset({"advanced-chat", "workflow"})
MODEL_MODES = frozenset({"chat", "agent-chat"})
REPLY_KINDS = ("echo", "events", "fail", "blocking")
REASONING_FORMATS = ("tagged", "separated")

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
    mode = app.get("mode", "chat")
    if mode not in APP_MODES:
        raise ScenarioError(f"{where}.mode must be one of {', '.join(APP_MODES)}, got {app.get('mode')!r}")
    if not isinstance(replies, list) or not replies:
        raise ScenarioError(f"{where}: replies must be a non-empty list")
    for i, reply in enumerate(replies):
        if not isinstance(reply, Mapping) or not any(kind in reply for kind in REPLY_KINDS):
            raise ScenarioError(f"{where}: reply {i} must have one of {', '.join(REPLY_KINDS)}: {reply!r}")
    for key, modes in (("graph", GRAPH_MODES), ("conversation_variables", {"advanced-chat"}),
                       ("model", MODEL_MODES), ("pre_prompt", MODEL_MODES), ("agent", {"agent-chat"}),
                       ("knowledge", CHAT_MODES)):
        if key in app and mode not in modes:
            raise ScenarioError(f"{where}.{key} is for {' and '.join(sorted(modes))} apps, not {mode}")
    if "graph" in app:
        _validate_graph(f"{where}.graph", app["graph"], mode)
    if not isinstance(app.get("conversation_variables", {}), Mapping):
        raise ScenarioError(f"{where}.conversation_variables must be an object")
    if "model" in app and (problem := _model_problem(app["model"])):
        raise ScenarioError(f"{where}.model: {problem}")
    if not isinstance(app.get("pre_prompt", ""), str):
        raise ScenarioError(f"{where}.pre_prompt must be a string")
    if "agent" in app:
        _validate_agent(f"{where}.agent", app["agent"])
    knowledge = app.get("knowledge", [])
    if not isinstance(knowledge, list) or not all(
            isinstance(doc, Mapping) and isinstance(doc.get("content"), str) for doc in knowledge):
        raise ScenarioError(f"{where}.knowledge must be a list of passages, each an object with a 'content' string")


def _model_problem(model: Any) -> str | None:
    if not isinstance(model, Mapping) or model.get("script", "echo") not in SCRIPTS:
        return f"a model is an object whose script is one of {', '.join(SCRIPTS)}"
    return None


def _validate_agent(where: str, agent: Any) -> None:
    if not isinstance(agent, Mapping) or agent.get("strategy", "function_call") not in AGENT_STRATEGIES:
        raise ScenarioError(f"{where} must be an object whose strategy is one of {', '.join(AGENT_STRATEGIES)}")
    unknown = [tool for tool in agent.get("tools", []) if tool not in TOOLS]
    if unknown:
        raise ScenarioError(f"{where}.tools: unknown tools {unknown}; known: {', '.join(TOOLS)}")


def _is_selector(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 2 and all(isinstance(part, str) for part in value)


def _validate_graph(where: str, graph: Any, mode: str) -> None:
    if not isinstance(graph, list) or not graph or not all(isinstance(node, Mapping) for node in graph):
        raise ScenarioError(f"{where} must be a non-empty list of nodes")
    ids = [node.get("id") for node in graph]
    if not all(isinstance(node_id, str) and node_id for node_id in ids) or len(set(ids)) != len(ids):
        raise ScenarioError(f"{where}: every node needs an id of its own, got {ids}")
    if graph[0].get("type") != "start":
        raise ScenarioError(f"{where}: the first node must be a start node")
    # A chatflow answers with answer nodes, a workflow with end nodes.
    allowed = [t for t in NODE_TYPES if t != ("end" if mode == "advanced-chat" else "answer")]
    for node in graph:
        node_type, here = node.get("type"), f"{where}.{node['id']}"
        if node_type not in allowed:
            raise ScenarioError(f"{here}: a {mode} node type is one of {', '.join(allowed)}, got {node_type!r}")
        problem = _node_problem(node)
        if problem:
            raise ScenarioError(f"{here}: {problem}")


def _node_problem(node: Mapping[str, Any]) -> str | None:
    """What is wrong with a node's own keys, if anything."""
    node_type = node["type"]
    if node_type == "assigner":
        items = node.get("items")
        if not isinstance(items, list) or not items or not all(
                isinstance(item, Mapping) and _is_selector(item.get("variable_selector"))
                and item["variable_selector"][0] == "conversation"
                and item.get("operation") in ASSIGNER_OPERATIONS for item in items):
            return ("items must be a list of {variable_selector: [\"conversation\", NAME], operation, value} with "
                    f"operation one of {', '.join(ASSIGNER_OPERATIONS)}")
    elif node_type == "template-transform":
        variables = node.get("variables", {})
        if not isinstance(variables, Mapping) or not all(_is_selector(v) for v in variables.values()):
            return "variables must map names to selectors such as [\"sys\", \"query\"]"
    elif node_type == "llm":
        if "model" in node and (problem := _model_problem(node["model"])):
            return problem
        if node.get("reasoning_format", "tagged") not in REASONING_FORMATS:
            return f"reasoning_format must be one of {', '.join(REASONING_FORMATS)}"
    elif node_type == "answer" and not isinstance(node.get("answer"), str):
        return "answer must be a template string"
    elif node_type == "end":
        outputs = node.get("outputs")
        if not isinstance(outputs, Mapping) or not all(_is_selector(v) for v in outputs.values()):
            return "outputs must map names to selectors such as [\"start\", \"query\"]"
    return None


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
