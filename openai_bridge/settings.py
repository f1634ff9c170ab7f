"""The endpoint's settings, as Dify hands them to the plugin, parsed once into a typed value.

Dify delivers secret/text/select settings as strings, booleans as bools (older versions: strings), the
app-selector as `{"app_id", "inputs", "files", "type"}`, and may omit optional settings entirely.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class MemoryMode(StrEnum):
    CONVERSATION = "conversation"
    LAST_USER_MESSAGE = "last_user_message"
    ALL_MESSAGES = "all_messages"


class CitationMode(StrEnum):
    OFF = "off"
    FIELDS = "fields"  # the fields clients render sources from (see apis/*)
    MARKDOWN = "markdown"  # a short list of sources after the answer, for clients that render only text


class ReasoningMode(StrEnum):
    SPLIT = "split"
    INLINE = "inline"
    DROP = "drop"


class BackgroundTaskMode(StrEnum):
    """How Open WebUI's background tasks (titles, tags, follow-ups, ...) are answered; never remembered."""

    LOCAL = "local"  # without the app, where a neutral answer does (a title from the first message)
    APP = "app"  # by the app


DEFAULT_MODEL_NAME = "dify-app"

# The endpoint's main app and this many more, each served under its own model name.
EXTRA_APP_SLOTS = 4


@dataclass(frozen=True)
class AppChoice:
    """One app the endpoint serves, and the model name clients pick it by."""

    model_name: str
    app_id: str
    app_inputs: dict[str, Any] = field(default_factory=dict)
    memory_mode: MemoryMode = MemoryMode.CONVERSATION
    options: dict[str, Any] = field(default_factory=dict)  # its values of the APP_OPTIONS fields


@dataclass(frozen=True)
class EndpointSettings:
    """The endpoint's settings, with the app of the request being served in `app_id`, `model_name` ... (the main
    app until `serving` picks another)."""

    api_key: str = ""
    app_id: str = ""
    app_inputs: dict[str, Any] = field(default_factory=dict)
    memory_mode: MemoryMode = MemoryMode.CONVERSATION
    model_name: str = DEFAULT_MODEL_NAME
    apps: tuple[AppChoice, ...] = ()  # every configured app, the main one first
    user_variable: str = ""
    show_agent_steps: bool = True
    reasoning_mode: ReasoningMode = ReasoningMode.SPLIT
    citations: CitationMode = CitationMode.FIELDS
    background_tasks: BackgroundTaskMode = BackgroundTaskMode.LOCAL
    query_variable: str = "query"
    output_variable: str = ""
    system_prompt_variable: str = "system_prompt"
    file_variable: str = ""
    cors_allow_origins: tuple[str, ...] = ()

    def serving(self, model: str) -> EndpointSettings:
        """These settings for the app `model` names; an unknown name is served by the main app, so that clients
        which hard-code a model name keep working."""
        wanted = model.strip()
        choice = next((a for a in self.apps if a.model_name == wanted), None) or \
            next((a for a in self.apps if a.model_name.lower() == wanted.lower()), None)
        if choice is None:
            return self
        return dataclasses.replace(self, app_id=choice.app_id, app_inputs=choice.app_inputs,
                                   memory_mode=choice.memory_mode, model_name=choice.model_name, **choice.options)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _flag(value: object, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip().lower() in {"true", "1", "yes", "on"}
    return default


def _choice[E: StrEnum](enum: type[E], value: object, default: E) -> E:
    try:
        return enum(_text(value))
    except ValueError:
        return default


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._:/-]+", "-", name).strip("-")


def _app(raw: object) -> tuple[str, dict[str, Any]]:
    if isinstance(raw, Mapping):
        inputs = raw.get("inputs")
        return _text(raw.get("app_id")), dict(inputs) if isinstance(inputs, Mapping) else {}
    return _text(raw), {}


# The settings an app of the endpoint may set for itself (`app_options`, `app_<n>_options`: the gateway's per-model
# options; the plugin's form sets them for the whole endpoint).
APP_OPTIONS = ("user_variable", "show_agent_steps", "reasoning_mode", "citations", "background_tasks",
               "query_variable", "output_variable", "system_prompt_variable", "file_variable")


def _app_options(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_variable": _text(raw.get("user_variable")),
        "show_agent_steps": _flag(raw.get("show_agent_steps"), True),
        "reasoning_mode": _choice(ReasoningMode, raw.get("reasoning_mode"), ReasoningMode.SPLIT),
        "citations": _choice(CitationMode, raw.get("citations"), CitationMode.FIELDS),
        "background_tasks": _choice(BackgroundTaskMode, raw.get("background_tasks"), BackgroundTaskMode.LOCAL),
        "query_variable": _text(raw.get("query_variable")) or "query",
        "output_variable": _text(raw.get("output_variable")),
        "system_prompt_variable": _text(raw.get("system_prompt_variable")) or "system_prompt",
        "file_variable": _text(raw.get("file_variable")),
    }


def _own_options(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    own = raw.get(key)
    return _app_options({**raw, **own} if isinstance(own, Mapping) else raw)


def _apps(raw: Mapping[str, Any], memory_mode: MemoryMode) -> tuple[AppChoice, ...]:
    """The configured apps, main first: slot 1 is `app_id` / `model_name`, slot n is `app_<n>` / `app_<n>_...`."""
    slots = [(raw.get("app_id") or raw.get("app"), raw.get("model_name"), None, DEFAULT_MODEL_NAME, "app_options")]
    slots += [(raw.get(f"app_{n}"), raw.get(f"app_{n}_model_name"), raw.get(f"app_{n}_memory_mode"),
               f"{DEFAULT_MODEL_NAME}-{n}", f"app_{n}_options") for n in range(2, EXTRA_APP_SLOTS + 2)]
    apps: list[AppChoice] = []
    for selector, name, mode, default_name, options in slots:
        app_id, inputs = _app(selector)
        model_name = _slug(_text(name)) or default_name
        if app_id and all(a.model_name != model_name for a in apps):
            apps.append(AppChoice(model_name, app_id, inputs, _choice(MemoryMode, mode, memory_mode),
                                  _own_options(raw, options)))
    return tuple(apps)


def parse_settings(raw: Mapping[str, Any]) -> EndpointSettings:
    memory_mode = _choice(MemoryMode, raw.get("memory_mode"), MemoryMode.CONVERSATION)
    apps = _apps(raw, memory_mode)
    main = apps[0] if apps else AppChoice(_slug(_text(raw.get("model_name"))) or DEFAULT_MODEL_NAME, "",
                                          options=_own_options(raw, "app_options"))
    origins = tuple(o.strip() for o in _text(raw.get("cors_allow_origins")).split(",") if o.strip())
    return EndpointSettings(
        api_key=_text(raw.get("api_key")),
        app_id=main.app_id,
        app_inputs=main.app_inputs,
        memory_mode=main.memory_mode,
        model_name=main.model_name,
        apps=apps,
        cors_allow_origins=origins,
        **main.options,
    )


# The same endpoint's settings come with every request; parsing them was a fifth of the core's own time per
# non-streaming request. A few distinct settings per process (endpoints, edits); past the bound all are dropped.
_PARSED: dict[str, EndpointSettings] = {}
PARSED_SETTINGS_LIMIT = 64


def settings_of(raw: Mapping[str, Any]) -> EndpointSettings:
    """parse_settings(raw), remembered: EndpointSettings is immutable, so one value can serve every request."""
    key = repr(raw)
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) >= PARSED_SETTINGS_LIMIT:
            _PARSED.clear()
        found = _PARSED[key] = parse_settings(raw)
    return found
