"""Where a non-streaming request's time goes inside the plugin process: the SDK's app stream, or the plugin's own work.

The plugin and the floor (probe `/whole`) each answer sequential requests from one client over the instant echo app,
with bench/plugin_hook on their PYTHONPATH. Per request it counts, on the request's thread, the wall and CPU time of
the request as the SDK runs it (the HTTP request parsed, the handler, the response line written), of the handler,
and of the part spent inside the SDK's chat invocation (writing the call, then every event read in over stdio). The
rest of the handler is the plugin's own work: request parsing, planning, translating and rendering for this plugin,
joining the deltas for the floor. Each plugin runs in turn for `rounds` rounds, and the medians are kept.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import PROBE_DIR, ROOT, Client, chat_body, medians, running

HOOK = Path(__file__).resolve().parent / "plugin_hook"
FLOOR = "probe /whole"


def counted(plugin_dir: Path, path: str, body: Callable[[str], dict[str, Any]], requests: int, out: Path,
            warm_up: int = 200) -> dict[str, float]:
    """Milliseconds per request for each figure the hook counts, over `requests` sequential requests."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH", "")])),
           "BENCH_SPLIT_OUT": str(out)}
    with running(plugin_dir, env=env) as emu:
        client = Client(emu)

        def send(i: int) -> None:
            client.timed("POST", path, body(f"split {i} {time.monotonic_ns()}"))  # raises unless 200

        for i in range(warm_up):
            send(i)
        os.kill(emu.plugin_pid, signal.SIGUSR2)
        time.sleep(0.2)
        for i in range(requests):
            send(i)
        os.kill(emu.plugin_pid, signal.SIGUSR1)
        for _ in range(50):
            time.sleep(0.1)
            if out.exists() and out.stat().st_size:
                break
        totals = json.loads(out.read_text())
        out.unlink()
    n = totals.pop("requests")
    if n != requests:
        raise RuntimeError(f"the hook counted {n:.0f} requests of {requests}")
    figures = {name: value / n * 1000 for name, value in totals.items()}
    figures["around_wall"] = figures["request_wall"] - figures["handler_wall"]
    figures["around_cpu"] = figures["request_cpu"] - figures["handler_cpu"]
    figures["own_wall"] = figures["handler_wall"] - figures["stream_wall"]
    figures["own_cpu"] = figures["handler_cpu"] - figures["stream_cpu"]
    return figures


def time_split(requests: int = 1500, rounds: int = 3) -> dict[str, dict[str, float]]:
    """`"this plugin"` and the floor -> ms per request (wall and CPU): the request as the SDK runs it, the SDK's
    part around the handler, in the SDK's app stream, and the plugin's own work."""
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "split.json"
        for _ in range(rounds):
            runs.setdefault("this plugin", []).append(counted(
                ROOT, "/v1/chat/completions", lambda text: chat_body(text, stream=False), requests, out))
            runs.setdefault(FLOOR, []).append(counted(
                PROBE_DIR, "/whole", lambda text: {"query": text}, requests, out))
    return medians(runs)


def split_rows(split: dict[str, dict[str, float]]) -> list[str]:
    """Markdown rows: per request, its whole time in the SDK and how it divides."""
    rows = ["| Non-streaming request inside the plugin, ms per request (wall / CPU) | Whole request | SDK around the "
            "handler | In the SDK's app stream | Own work |", "|---|---|---|---|---|"]
    for name, figure in split.items():
        rows.append(f"| {name} | " + " | ".join(
            f"{figure[f'{part}_wall']:.3f} / {figure[f'{part}_cpu']:.3f}"
            for part in ("request", "around", "stream", "own")) + " |")
    return rows
