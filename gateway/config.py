"""The gateway's configuration: a TOML file, then environment variables over it, checked once at start.

Everything the plugin's endpoint settings say, the gateway says here; what only a gateway needs (Dify's address, the
app keys of its models, several client keys, the listen address, shared state) is here too. A bad value stops the
gateway at start with a message naming the key, never a request later.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai_bridge.settings import EXTRA_APP_SLOTS, MemoryMode

DEFAULT_LISTEN = "127.0.0.1:8001"
DEFAULT_SQLITE = "gateway-state.sqlite3"
# The plugin's endpoint settings a gateway may set in [options] (for every model) and, but for CORS, which is
# decided before the request names a model, in a model's own table; with the type each takes.
OPTIONS: dict[str, type] = {
    "user_variable": str, "show_agent_steps": bool, "reasoning_mode": str, "citations": str,
    "background_tasks": str, "query_variable": str, "output_variable": str, "system_prompt_variable": str,
    "file_variable": str, "cors_allow_origins": str,
}
MODEL_KEYS = {"name", "app_key", "memory_mode", "inputs"}
MAX_MODELS = EXTRA_APP_SLOTS + 1  # the core serves this many apps per endpoint


class ConfigError(ValueError):
    """The configuration cannot work; the text says which key and why."""


@dataclass(frozen=True)
class Model:
    """One model clients pick by name: a Dify app, reached with its app API key."""

    name: str
    app_key: str = field(repr=False)
    memory_mode: MemoryMode = MemoryMode.CONVERSATION
    inputs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # over [options], for this model only

    @property
    def app_id(self) -> str:
        """What the core calls this app by (memory keys, form cache): stable per key, and not the secret itself."""
        return "app-" + hashlib.sha256(self.app_key.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 300.0  # the longest silence between two lines of Dify's stream (Dify pings every 10 s)
    upload: float = 60.0


@dataclass(frozen=True)
class GatewayConfig:
    dify_url: str  # the Service API's base, ".../v1"
    models: tuple[Model, ...]
    client_keys: tuple[str, ...] = field(repr=False)
    listen: str = DEFAULT_LISTEN
    workers: int = 2
    threads: int = 32  # per worker: each open stream holds one
    sqlite_path: str = DEFAULT_SQLITE
    redis_url: str = ""  # when set, state lives in Redis (several replicas), else in the SQLite file
    timeouts: Timeouts = Timeouts()
    options: Mapping[str, Any] = field(default_factory=dict)
    endpoint_id: str = "gateway"  # what memory keys are prefixed with, as an endpoint's id in the plugin

    def model_for_app(self, app_id: str) -> Model:
        for model in self.models:
            if model.app_id == app_id:
                return model
        raise KeyError(app_id)

    def settings(self, api_key: str) -> dict[str, Any]:
        """The core's raw settings for a request that presented `api_key` (one of `client_keys`, or a wrong one)."""
        raw: dict[str, Any] = {"api_key": api_key, **self.options}
        for slot, model in enumerate(self.models, start=1):
            prefix = "" if slot == 1 else f"app_{slot}_"
            raw["app_id" if slot == 1 else f"app_{slot}"] = {"app_id": model.app_id, "inputs": dict(model.inputs)}
            raw[f"{prefix}model_name"] = model.name
            raw[f"{prefix}memory_mode" if slot > 1 else "memory_mode"] = model.memory_mode.value
            raw[f"{prefix}options" if slot > 1 else "app_options"] = dict(model.options)
        return raw


def _text(table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}{key} must be a string, not {type(value).__name__}")
    return value.strip()


def _number(table: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}{key} must be a positive number of seconds, not {value!r}")
    return float(value)


def _count(value: object, key: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a whole number of at least 1, not {value!r}")
    return value


def _model(entry: object, at: int) -> Model:
    where = f"models[{at}]."
    if not isinstance(entry, Mapping):
        raise ConfigError(f"models[{at}] must be a table with name and app_key")
    name, key = _text(entry, "name", where), _text(entry, "app_key", where)
    if not name or not key:
        raise ConfigError(f"{where}name and {where}app_key are both required (the app key is on the Dify app's "
                          "API Access page, it starts with 'app-')")
    mode = _text(entry, "memory_mode", where, MemoryMode.CONVERSATION.value)
    if mode not in set(MemoryMode):
        raise ConfigError(f"{where}memory_mode must be one of {', '.join(MemoryMode)}, not {mode!r}")
    inputs = entry.get("inputs", {})
    if not isinstance(inputs, Mapping):
        raise ConfigError(f"{where}inputs must be a table of the app's input values")
    options = {k: v for k, v in entry.items() if k not in MODEL_KEYS}
    if "cors_allow_origins" in options:
        raise ConfigError(f"{where}cors_allow_origins is for every model: set it in [options]")
    return Model(name, key, MemoryMode(mode), dict(inputs), _options(options, where))


def _models_from_env(text: str) -> list[dict[str, str]]:
    """GATEWAY_MODELS: `name=app-key` pairs separated by commas."""
    models = []
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, key = pair.partition("=")
        if not sep:
            raise ConfigError(f"GATEWAY_MODELS must list name=app-key pairs separated by commas, not {pair[:40]!r}")
        models.append({"name": name.strip(), "app_key": key.strip()})
    return models


def _options(table: object, where: str = "options.") -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError("[options] must be a table")
    options: dict[str, Any] = {}
    for key, value in table.items():
        kind = OPTIONS.get(key)
        if kind is None:
            known = OPTIONS if where == "options." else sorted(MODEL_KEYS | set(OPTIONS))
            raise ConfigError(f"{where}{key} is not an option; known: {', '.join(known)}")
        if key == "cors_allow_origins" and isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if not isinstance(value, kind):
            raise ConfigError(f"{where}{key} must be a {kind.__name__}, not {type(value).__name__}")
        options[key] = value
    return options


def load(path: str | None, environ: Mapping[str, str] = os.environ) -> GatewayConfig:
    """The configuration in the TOML file at `path` (optional), with the GATEWAY_* variables of `environ` over it."""
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from exc
    return parse(data, environ)


TOP_LEVEL = {"dify_url", "models", "client_keys", "listen", "workers", "threads", "storage", "timeouts", "options"}


def parse(data: Mapping[str, Any], environ: Mapping[str, str]) -> GatewayConfig:
    unknown = set(data) - TOP_LEVEL
    if unknown:
        raise ConfigError(f"unknown keys: {', '.join(sorted(unknown))}; known: {', '.join(sorted(TOP_LEVEL))} "
                          "(the plugin's options, such as citations, go in [options])")
    env = {k: v for k, v in environ.items() if k.startswith("GATEWAY_")}
    dify_url = (env.get("GATEWAY_DIFY_URL") or _text(data, "dify_url", "")).rstrip("/")
    if not dify_url.startswith(("http://", "https://")):
        raise ConfigError("dify_url (GATEWAY_DIFY_URL) must be the Dify Service API's base URL, such as "
                          f"https://api.dify.ai/v1, not {dify_url!r}")
    raw_models = _models_from_env(env["GATEWAY_MODELS"]) if "GATEWAY_MODELS" in env else data.get("models", [])
    if not isinstance(raw_models, list) or not raw_models:
        raise ConfigError("no models: add a [[models]] table (name, app_key) or set GATEWAY_MODELS=name=app-key")
    if len(raw_models) > MAX_MODELS:
        raise ConfigError(f"{len(raw_models)} models given; a gateway serves at most {MAX_MODELS}")
    models = tuple(_model(entry, at) for at, entry in enumerate(raw_models))
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"two models have the same name: {', '.join(sorted(n for n in names if names.count(n) > 1))}")
    keys_given = env.get("GATEWAY_CLIENT_KEYS")
    raw_keys: object = keys_given.split(",") if keys_given is not None else data.get("client_keys", [])
    if isinstance(raw_keys, str):
        raw_keys = [raw_keys]
    if not isinstance(raw_keys, list) or not all(isinstance(k, str) for k in raw_keys):
        raise ConfigError("client_keys must be a list of strings (GATEWAY_CLIENT_KEYS: separated by commas)")
    client_keys = tuple(k.strip() for k in raw_keys if k.strip())
    if not client_keys:
        raise ConfigError("no client_keys: a gateway without a key would serve anyone who finds it; set "
                          "client_keys = [\"sk-...\"] or GATEWAY_CLIENT_KEYS")
    storage = data.get("storage", {})
    timeouts = data.get("timeouts", {})
    if not isinstance(storage, Mapping) or not isinstance(timeouts, Mapping):
        raise ConfigError("[storage] and [timeouts] must be tables")
    redis_url = env.get("GATEWAY_REDIS_URL", _text(storage, "redis", "storage."))
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"storage.redis must be a redis:// URL, not {redis_url!r}")
    listen = env.get("GATEWAY_LISTEN") or _text(data, "listen", "", DEFAULT_LISTEN)
    if ":" not in listen:
        raise ConfigError(f"listen must be HOST:PORT, not {listen!r}")
    return GatewayConfig(
        dify_url=dify_url,
        models=models,
        client_keys=client_keys,
        listen=listen,
        workers=_count(env.get("GATEWAY_WORKERS", data.get("workers", 2)), "workers"),
        threads=_count(env.get("GATEWAY_THREADS", data.get("threads", 32)), "threads"),
        sqlite_path=env.get("GATEWAY_SQLITE_PATH") or _text(storage, "sqlite", "storage.", DEFAULT_SQLITE),
        redis_url=redis_url,
        timeouts=Timeouts(*(_number(timeouts, name, "timeouts.", getattr(Timeouts, name))
                            for name in ("connect", "read", "upload"))),
        options=_options(data.get("options", {})),
    )
