"""In-process gateway fixtures: the real WSGI app and DifyPort, Dify faked at the HTTP transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.test import Client

from gateway.app import GatewayApp
from gateway.config import GatewayConfig, parse
from gateway.dify_api import ServiceApiDify
from gateway.storage import SqliteStorage
from openai_bridge.ports import KeyValueStorage

from .fake_service_api import BASE, FakeApp, FakeServiceApi

KEYS = ["sk-one", "sk-two"]


def gateway_config(models: dict[str, str], **extra: Any) -> GatewayConfig:
    return parse({"dify_url": BASE, "client_keys": KEYS,
                  "models": [{"name": name, "app_key": key} for name, key in models.items()], **extra}, {})


class InProcessGateway:
    def __init__(self, tmp_path: Path, apps: dict[str, FakeApp], models: dict[str, str],
                 storage: KeyValueStorage | None = None, **extra: Any) -> None:
        self.fake = FakeServiceApi(apps)
        self.config = gateway_config(models, **extra)
        storage = storage or SqliteStorage(str(tmp_path / "state.sqlite3"))
        self.dify = ServiceApiDify(self.config, storage, client=httpx.Client(transport=self.fake.transport()))
        self.client = Client(GatewayApp(self.config, dify=self.dify))

    def post(self, path: str, body: dict[str, Any], key: str = KEYS[0], **headers: str) -> tuple[int, Any]:
        response = self.client.post(path, json=body, headers={"Authorization": f"Bearer {key}", **headers})
        text = response.get_data(as_text=True)
        if response.mimetype == "text/event-stream":
            return response.status_code, text
        return response.status_code, json.loads(text)


@pytest.fixture
def gateway(tmp_path: Path) -> Callable[..., InProcessGateway]:
    def make(apps: dict[str, FakeApp], models: dict[str, str] | None = None, **extra: Any) -> InProcessGateway:
        return InProcessGateway(tmp_path, apps, models or {f"model-{i}": key for i, key in enumerate(apps)}, **extra)
    return make
