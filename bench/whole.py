"""Non-streaming requests per second against their floor, measured side by side in one run.

The floor is the probe plugin's `/whole` route: the same SDK runtime and the same streaming-mode Dify call as the
bridge, the plugin collecting the answer and returning it as one JSON body (what a non-streaming chat completion
is, minus the OpenAI translation). `probe /app` in blocking mode (Dify builds the whole answer itself, one
backwards-invocation chunk) is printed for information: the bridge does not use blocking mode (see run/start.py).

Each figure is requests/s from 1 and from 8 keep-alive clients over an instant echo app; every request carries its
own text, as different users' requests do (identical histories would all share one conversation-memory record).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from dify_emulator import Emulator

from .common import Client, chat_body, medians, run_threads, scenario

MEMORY_MODES = ("last_user_message", "conversation")
FLOOR = "probe /whole"
BLOCKING = "probe /app (blocking)"


def throughput(emu: Emulator, method: str, path: str, body: Callable[[str], dict[str, Any]], seconds: float,
               concurrency: int, check: Callable[[bytes, str], bool]) -> dict[str, float]:
    """Requests/s from `concurrency` keep-alive clients after a short warm-up, and the plugin's CPU share."""
    stop = threading.Event()
    counts = [0] * concurrency
    plugin = psutil.Process(emu.plugin_pid)

    def work(i: int) -> None:
        client = Client(emu)
        while not stop.is_set():
            text = f"ping {i} {counts[i]} {time.monotonic_ns()}"
            status, data = client.request(method, path, body(text))
            if status != 200 or not check(data, text):
                raise RuntimeError(f"{path} -> {status}: {data[:200]!r}")
            counts[i] += 1

    runner = threading.Thread(target=run_threads, args=(concurrency, work), daemon=True)
    runner.start()
    time.sleep(0.5)  # warm-up
    before = sum(counts)
    plugin.cpu_percent()
    started = time.perf_counter()
    time.sleep(seconds)
    done = sum(counts) - before
    elapsed = time.perf_counter() - started
    cpu = plugin.cpu_percent()
    stop.set()
    runner.join()
    return {"requests_per_s": done / elapsed, "plugin_cpu_percent": cpu}


def _is_completion(data: bytes, text: str) -> bool:
    return bool(json.loads(data)["choices"][0]["message"]["content"] == text)


def _is_whole(data: bytes, text: str) -> bool:
    return bool(json.loads(data)["content"] == text)


def _is_blocking(data: bytes, text: str) -> bool:
    return bool(json.loads(data)["answer"] == text)


def whole_throughputs(plugins: list[tuple[str, Emulator]], probe: Emulator, seconds: float,
                      clients: tuple[int, ...] = (1, 8), rounds: int = 3) -> dict[str, dict[str, float]]:
    """`"<name> (<memory mode>) x<clients>"` -> requests/s and plugin CPU (medians over `rounds`), and the same for
    the floor and the blocking probe.

    Each round measures every figure once, the plugins and the floor in turn, so a machine that slows down for a
    while (other work on a 2-core box) slows both sides of a ratio alike, and the median drops the odd round out."""
    runs: dict[str, list[dict[str, float]]] = {}
    probe.load_scenario(scenario())
    for _ in range(rounds):
        for n in clients:
            for name, emu in plugins:
                for memory in MEMORY_MODES:
                    emu.load_scenario(scenario(memory_mode=memory))
                    runs.setdefault(f"{name} ({memory}) x{n}", []).append(throughput(
                        emu, "POST", "/v1/chat/completions", lambda text: chat_body(text, stream=False), seconds,
                        n, _is_completion))
            runs.setdefault(f"{FLOOR} x{n}", []).append(throughput(
                probe, "POST", "/whole", lambda text: {"query": text}, seconds, n, _is_whole))
            runs.setdefault(f"{BLOCKING} x{n}", []).append(throughput(
                probe, "POST", "/app", lambda text: {"query": text, "response_mode": "blocking"}, seconds, n,
                _is_blocking))
    return medians(runs)


def ratio_rows(thr: dict[str, dict[str, float]], names: list[str], clients: tuple[int, ...] = (1, 8)) -> list[str]:
    """Markdown rows: requests/s (plugin CPU) and the ratio to the floor, per memory mode and client count."""
    rows = []
    for n in clients:
        floor = thr[f"{FLOOR} x{n}"]["requests_per_s"]
        for memory in MEMORY_MODES:
            cells = []
            for name in names:
                figure = thr[f"{name} ({memory}) x{n}"]
                cells.append(f"{figure['requests_per_s']:.0f} req/s = {figure['requests_per_s'] / floor:.2f}x "
                             f"(plugin CPU {figure['plugin_cpu_percent']:.0f}%)")
            rows.append(f"| Non-streaming, `{memory}`, {n} client{'s' if n > 1 else ''} (goal >= 1.00x {FLOOR}) | " +
                        " | ".join(cells) + " | - | - |")
        blocking = thr[f"{BLOCKING} x{n}"]["requests_per_s"]
        rows.append(f"| ... floor {FLOOR} / {BLOCKING}, {n} client{'s' if n > 1 else ''} | " +
                    f"{floor:.0f} / {blocking:.0f} req/s |" + " |" * (len(names) - 1) + " - | - |")
    return rows
