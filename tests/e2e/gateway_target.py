"""The gateway as an e2e target: the real WSGI app and Service API port, over `ServiceApiEmulator`.

It answers to what e2e tests use of the plugin's `Emulator` (`base_url`, `load_scenario`, `records`,
`conversations`, `uploads`, `restart_plugin`), so the same tests run against both adapters. A scenario's endpoint
settings become the gateway's config (the app selectors become models with their apps' keys); its Dify calls are
recorded in the plugin emulator's shape (`{"type": "app", "request": {...}}`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from dify_emulator.scenario import load_scenario
from dify_emulator.service_api import ServiceApiEmulator
from gateway.app import GatewayApp
from gateway.config import OPTIONS, GatewayConfig, parse
from gateway.storage import SqliteStorage
from openai_bridge.settings import DEFAULT_MODEL_NAME, EXTRA_APP_SLOTS

RUNS = {"chat-messages", "completion-messages", "workflows/run"}


def _app_id(selector: object) -> str:
    return str(selector.get("app_id") or "") if isinstance(selector, Mapping) else str(selector or "")


def gateway_config(settings: Mapping[str, Any], api: ServiceApiEmulator) -> GatewayConfig:
    """The config a gateway admin would write for these plugin endpoint settings."""
    models = []
    slots = [("app_id", "model_name", "memory_mode", DEFAULT_MODEL_NAME)] + [
        (f"app_{n}", f"app_{n}_model_name", f"app_{n}_memory_mode", f"{DEFAULT_MODEL_NAME}-{n}")
        for n in range(2, EXTRA_APP_SLOTS + 2)]
    for selector, name, mode, default in slots:
        app_id = _app_id(settings.get(selector))
        if not app_id:
            continue
        inputs = settings[selector].get("inputs") if isinstance(settings[selector], Mapping) else None
        models.append({"name": str(settings.get(name) or "").strip() or default, "app_key": api.app_key(app_id),
                       "memory_mode": str(settings.get(mode) or settings.get("memory_mode") or "conversation"),
                       "inputs": dict(inputs or {})})
    options = {key: value for key, value in settings.items() if key in OPTIONS and value not in (None, "")}
    return parse({"dify_url": api.base_url, "client_keys": [str(settings.get("api_key") or "sk-none")],
                  "models": models, "options": options}, {})


class _Records(list[dict[str, Any]]):
    """The Service API's records as the plugin emulator words them; clear() forgets the source's too."""

    def __init__(self, source: list[dict[str, Any]], translated: Iterable[dict[str, Any]]) -> None:
        super().__init__(translated)
        self._source = source

    def clear(self) -> None:
        self._source.clear()
        super().clear()


def _as_plugin_record(record: dict[str, Any], uploads: list[dict[str, Any]]) -> dict[str, Any]:
    if record["type"] in RUNS:
        return {"type": "app", "endpoint": record["type"], "user": record["user"],
                "request": {**record["request"], "app_id": record["app_id"]}}
    if record["type"] == "files/upload":
        return {"type": "upload_file", "user": record["user"], "request": dict(record["request"])}
    return record


class GatewayTarget:
    def __init__(self, storage_path: Path, scenario: Mapping[str, Any]) -> None:
        self.api = ServiceApiEmulator(scenario=scenario)
        self._storage = SqliteStorage(str(storage_path))
        self._app: GatewayApp | None = None
        self._server = make_server("127.0.0.1", 0, self._serve, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._scenario: Mapping[str, Any] = scenario

    def _serve(self, environ: Any, start_response: Any) -> Any:
        assert self._app is not None
        return self._app(environ, start_response)

    def __enter__(self) -> GatewayTarget:
        self.api.start()
        self.load_scenario(self._scenario)
        threading.Thread(target=self._server.serve_forever, name="gateway-e2e", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.api.stop()

    def load_scenario(self, scenario: Mapping[str, Any]) -> None:
        self._scenario = scenario
        self.api.load_scenario(scenario)
        self.restart_plugin()

    def restart_plugin(self) -> None:
        """A fresh gateway process, as far as state goes: only the storage file stays."""
        self._app = GatewayApp(gateway_config(load_scenario(self._scenario)["settings"], self.api),
                               storage=self._storage)

    @property
    def records(self) -> _Records:
        source = self.api.records
        return _Records(source, (_as_plugin_record(r, self.uploads) for r in list(source)))

    @property
    def conversations(self) -> Any:
        return self.api.conversations

    @property
    def uploads(self) -> list[dict[str, Any]]:
        return self.api.uploads
