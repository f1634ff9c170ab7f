"""`make run`: the real plugin behind the local Dify emulator with its demo app, ready for any OpenAI client."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY = "sk-demo"
# Five apps behind the one endpoint, one per kind, over the emulator's own demo app (dify-app).
DEMO_SCENARIO = ROOT / "tools" / "demo_scenario.json"


def try_it(base_url: str, model: str, stream_model: str) -> str:
    """Ready-to-run curl and SDK calls against `base_url`, for the banners of `make run` and `make gateway`."""
    return f"""Try it with curl:

  curl -s {base_url}/v1/chat/completions \\
    -H "Authorization: Bearer {DEMO_KEY}" -H "Content-Type: application/json" \\
    -d '{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello, Dify!"}}]}}'

  curl -N {base_url}/v1/chat/completions \\
    -H "Authorization: Bearer {DEMO_KEY}" -H "Content-Type: application/json" \\
    -d '{{"model": "{stream_model}", "stream": true, "messages": [{{"role": "user", "content": "Stream this"}}]}}'

Or with the OpenAI Python SDK:

  from openai import OpenAI
  client = OpenAI(base_url="{base_url}/v1", api_key="{DEMO_KEY}")
  print(client.chat.completions.create(model="{model}",
        messages=[{{"role": "user", "content": "Hello"}}]).choices[0].message.content)
  for chunk in client.chat.completions.create(model="{stream_model}", stream=True,
        messages=[{{"role": "user", "content": "Hello again"}}]):
      print(chunk.choices[0].delta.content or "", end="", flush=True) if chunk.choices else None
  print(client.responses.create(model="{model}", input="And the Responses API?").output_text)

Press Ctrl-C to stop.
"""


def banner(base_url: str) -> str:
    return f"""
OpenAI Compatible Dify App: the plugin is running behind the local Dify emulator, with conversation memory.

  Base URL : {base_url}
  API key  : {DEMO_KEY}
  Models   : dify-app (a chat app that echoes), dify-agent (an agent with a current_time tool: ask it the time),
             dify-chatflow, dify-workflow, dify-knowledge (answers with its knowledge-base sources);
             any other model name is served by dify-app

{try_it(base_url, "dify-app", "dify-app")}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--scenario", default=str(DEMO_SCENARIO),
                        help="a scenario file for the emulator (default: tools/demo_scenario.json)")
    args, extra = parser.parse_known_args()
    # The demo runs the plugin's recommended memory mode, so follow-up turns continue one Dify conversation.
    command = [sys.executable, "-m", "dify_emulator", "serve", "--host", args.host, "--port", str(args.port),
               "--plugin-dir", str(ROOT), "--scenario", args.scenario,
               "--set", "memory_mode=conversation", *extra]
    return serve_announced(command, banner)


def serve_announced(command: list[str], announce: Callable[[str], str]) -> int:
    """Run `command`, a server that prints its base URL as its first line, and print `announce(url)` once it does;
    until it exits, or Ctrl-C or SIGTERM stops it."""
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if not base_url:
            return server.wait() or 1
        print(announce(base_url), flush=True)
        return server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        return server.wait()


if __name__ == "__main__":
    sys.exit(main())
