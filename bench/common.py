"""What the benchmark and the load test share: plugins behind emulators, scenarios, HTTP clients, statistics."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from dify_emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
PROBE_DIR = ROOT / "tests" / "fixtures" / "probe_plugin"
API_KEY = "sk-bench-key"
CONVERSATION = "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10"
ENVELOPE = {"conversation_id": CONVERSATION, "message_id": "m-bench", "created_at": 1700000000, "task_id": "t"}
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def message_events(count: int, delta: str = "tok ") -> list[dict[str, Any]]:
    """`count` message deltas and a message_end, as a chat app streams them."""
    end = {"event": "message_end", **ENVELOPE, "files": [],
           "metadata": {"usage": {"prompt_tokens": 1, "completion_tokens": count, "total_tokens": count + 1}}}
    return [{"event": "message", "id": "m-bench", "answer": delta, **ENVELOPE} for _ in range(count)] + [end]


def scenario(replies: list[dict[str, Any]] | None = None, memory_mode: str = "last_user_message",
             **settings: Any) -> dict[str, Any]:
    """The endpoint every benchmarked plugin gets: same hook, key and settings (`make bench BENCH_PLUGIN_DIR=...`
    expects a plugin with the same routes and settings)."""
    return {
        "hook_id": "bench",
        "settings": {"api_key": API_KEY, "memory_mode": memory_mode,
                     "app_id": {"app_id": f"app-{uuid.uuid4().hex[:8]}", "inputs": {}, "files": [],
                                "type": "app-selector"}, **settings},
        "app": {"mode": "chat", "name": "Bench", "parameters": {}},
        "replies": replies or [{"echo": True}],
    }


def chat_body(query: str = "hi", stream: bool = True) -> dict[str, Any]:
    return {"model": "dify-app", "stream": stream, "messages": [{"role": "user", "content": query}]}


@contextmanager
def quiet_emulator_logs() -> Iterator[None]:
    """The emulator logs every request at INFO; a benchmark run does not want that on the terminal."""
    logger = logging.getLogger("dify_emulator")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextmanager
def running(plugin_dir: Path, scenario_: dict[str, Any] | None = None, env: dict[str, str] | None = None,
            **options: Any) -> Iterator[Emulator]:
    with Emulator(scenario=scenario_ or scenario(), plugin_dir=plugin_dir, env=env, **options) as emu:
        yield emu


# ---------------------------------------------------------------- HTTP


class Client:
    """One keep-alive HTTP/1.1 connection to an emulator (http.client: the cheapest client in Python)."""

    def __init__(self, emu: Emulator, timeout: float = 120) -> None:
        self._emu = emu
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._emu.host, self._emu.port, timeout=self._timeout)
            self._conn.connect()
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        payload = json.dumps(body).encode() if body is not None else None
        try:
            self._conn.request(method, f"/e/{self._emu.hook_id}{path}", body=payload, headers=headers or HEADERS)
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, data

    def timed(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[float, bytes]:
        started = time.perf_counter()
        status, data = self.request(method, path, body)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
        return elapsed, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def sse_content(data: bytes) -> str:
    """The text of a chat.completion.chunk stream; raises on anything but a clean, complete stream."""
    frames = [frame for frame in data.decode().split("\n\n") if frame and not frame.startswith(":")]
    if not frames or frames[-1] != "data: [DONE]":
        raise ValueError(f"stream does not end with [DONE]: {data[-200:]!r}")
    text = []
    ids = set()
    for frame in frames[:-1]:
        chunk = json.loads(frame[len("data: "):])
        if "error" in chunk:
            raise ValueError(f"error in stream: {chunk['error']}")
        ids.add(chunk["id"])
        if chunk["choices"]:
            text.append(chunk["choices"][0]["delta"].get("content") or "")
    if len(ids) != 1:
        raise ValueError(f"chunks of one stream carry {len(ids)} ids")
    return "".join(text)


# ---------------------------------------------------------------- processes and statistics


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


class RssSampler:
    """Samples a process's RSS every `interval` seconds on a thread; `peak` is the largest seen."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Sample:
    median: float
    p90: float
    count: int

    @classmethod
    def of(cls, values: list[float]) -> Sample:
        ordered = sorted(values)
        return cls(statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], len(ordered))


def medians(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each figure's median over the rounds that measured it, per name."""
    return {name: {figure: statistics.median(run[figure] for run in rounds) for figure in rounds[0]}
            for name, rounds in runs.items()}


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run `work(i)` on `count` threads at once; re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def machine() -> str:
    cpu = os.cpu_count()
    freq = psutil.cpu_freq()
    return f"{cpu} CPU(s)" + (f" @ {freq.max or freq.current:.0f} MHz" if freq else "") + \
        f", {psutil.virtual_memory().total / 2**30:.1f} GiB RAM"
