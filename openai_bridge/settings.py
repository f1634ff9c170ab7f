"""The endpoint's settings, as Dify hands them to the plugin, parsed once into a typed value.

Dify delivers secret/text/select settings as strings, booleans as bools (older versions: strings), the
app-selector as `{"app_id", "inputs", "files", "type"}`, and may omit optional settings entirely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class MemoryMode(StrEnum):
    CONVERSATION = "conversation"
    LAST_USER_MESSAGE = "last_user_message"
    ALL_MESSAGES = "all_messages"


class ReasoningMode(StrEnum):
    SPLIT = "split"
    INLINE = "inline"
    DROP = "drop"


DEFAULT_MODEL_NAME = "dify-app"


@dataclass(frozen=True)
class EndpointSettings:
    api_key: str = ""
    app_id: str = ""
    app_inputs: dict[str, Any] = field(default_factory=dict)
    memory_mode: MemoryMode = MemoryMode.CONVERSATION
    model_name: str = DEFAULT_MODEL_NAME
    show_agent_steps: bool = True
    reasoning_mode: ReasoningMode = ReasoningMode.SPLIT
    query_variable: str = "query"
    output_variable: str = ""
    system_prompt_variable: str = "system_prompt"
    file_variable: str = ""
    cors_allow_origins: tuple[str, ...] = ()


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


def parse_settings(raw: Mapping[str, Any]) -> EndpointSettings:
    app = raw.get("app_id") or raw.get("app")
    if isinstance(app, Mapping):
        app_id = _text(app.get("app_id"))
        app_inputs = dict(app.get("inputs") or {}) if isinstance(app.get("inputs"), Mapping) else {}
    else:
        app_id, app_inputs = _text(app), {}
    origins = tuple(o.strip() for o in _text(raw.get("cors_allow_origins")).split(",") if o.strip())
    return EndpointSettings(
        api_key=_text(raw.get("api_key")),
        app_id=app_id,
        app_inputs=app_inputs,
        memory_mode=_choice(MemoryMode, raw.get("memory_mode"), MemoryMode.CONVERSATION),
        model_name=_slug(_text(raw.get("model_name"))) or DEFAULT_MODEL_NAME,
        show_agent_steps=_flag(raw.get("show_agent_steps"), True),
        reasoning_mode=_choice(ReasoningMode, raw.get("reasoning_mode"), ReasoningMode.SPLIT),
        query_variable=_text(raw.get("query_variable")) or "query",
        output_variable=_text(raw.get("output_variable")),
        system_prompt_variable=_text(raw.get("system_prompt_variable")) or "system_prompt",
        file_variable=_text(raw.get("file_variable")),
        cors_allow_origins=origins,
    )
