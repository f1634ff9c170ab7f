"""`make gateway`: the standalone gateway (gunicorn, two workers) over the emulator's Service API with demo apps, one
per app mode, ready for any OpenAI client."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from dify_emulator.service_api import ServiceApiEmulator
from tools.demo import DEMO_KEY, serve_announced, try_it

ROOT = Path(__file__).resolve().parent.parent
QUERY_FORM = {"user_input_form": [{"paragraph": {"label": "Query", "variable": "query", "required": True}}]}
# model name -> (app id, mode): the emulator's echo apps answer with what they were asked.
DEMO_MODELS = {
    "dify-chatflow": ("app-demo", "advanced-chat"),
    "dify-chatbot": ("app-demo-chatbot", "chat"),
    "dify-agent": ("app-demo-agent", "agent-chat"),
    "dify-workflow": ("app-demo-workflow", "workflow"),
    "dify-completion": ("app-demo-completion", "completion"),
}


def demo_scenario(delay_ms: int = 0) -> dict[str, Any]:
    (main_id, main_mode), *others = DEMO_MODELS.values()
    reply = [{"echo": True, "delay_ms": delay_ms}]
    files = {"file_upload": {"enabled": True, "allowed_file_types": ["image", "document"],
                             "allowed_file_upload_methods": ["local_file", "remote_url"]}}
    return {
        "settings": {"api_key": DEMO_KEY, "app_id": {"app_id": main_id, "inputs": {}, "files": [],
                                                     "type": "app-selector"}},
        "app": {"mode": main_mode, "name": "Demo chatflow", "parameters": files},
        "apps": {app_id: {"mode": mode, "name": f"Demo {mode}", "replies": reply,
                          "parameters": {**files, **(QUERY_FORM if mode == "workflow" else {})}}
                 for app_id, mode in others},
        "replies": reply,
    }


def demo_config(api: ServiceApiEmulator, storage: str, listen: str, workers: int = 2) -> str:
    """The gateway's TOML config for the demo apps on `api`."""
    models = "\n".join(f'[[models]]\nname = "{name}"\napp_key = "{api.app_key(app_id)}"\n'
                       for name, (app_id, _) in DEMO_MODELS.items())
    return (f'dify_url = "{api.base_url}"\nclient_keys = [{json.dumps(DEMO_KEY)}]\nlisten = "{listen}"\n'
            f'workers = {workers}\n\n[storage]\nsqlite = {json.dumps(storage)}\n\n{models}')


def banner(base_url: str) -> str:
    return f"""
OpenAI Compatible Dify App, standalone gateway: gunicorn over the emulator's Dify Service API (echo apps).

  Base URL : {base_url}
  API key  : {DEMO_KEY}
  Models   : {", ".join(DEMO_MODELS)}

{try_it(base_url, "dify-completion", "dify-chatflow")}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    with ServiceApiEmulator(scenario=demo_scenario()) as api, tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "gateway.toml"
        config.write_text(demo_config(api, str(Path(folder) / "state.sqlite3"), f"{args.host}:{args.port}"))
        return serve_announced([sys.executable, "-m", "gateway", "--config", str(config)], banner)


if __name__ == "__main__":
    sys.exit(main())
