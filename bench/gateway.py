"""`python -m bench.gateway` (part of `make bench`): the standalone gateway against a bare relay, in the same run.

Both run under gunicorn (one gthread worker) in front of the emulated Service API on loopback; the relay copies
Dify's SSE lines to the client and does nothing else (bench/gateway_relay.py), so the difference is what the
gateway's core adds. Printed, never asserted:
1. per-chunk cost: (T(N_LARGE) - T(N_SMALL)) / (N_LARGE - N_SMALL) for a streamed reply of N chunks, client wall time;
2. time to the first body byte of a streamed reply (client side);
3. 100 concurrent streams on the one worker: errors, and the worker's RSS idle and at its peak.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from dify_emulator.service_api import ServiceApiEmulator

from .common import ROOT, RssSampler, machine, message_events, mib, rss, run_threads, sse_content

N_SMALL, N_LARGE, TRIALS, STREAMS = 10, 2000, 7, 100
KEY = "sk-bench"
APP = "app-bench"


def _scenario(events: int, delay_ms: int = 0) -> dict[str, Any]:
    return {"settings": {"api_key": KEY, "app_id": {"app_id": APP, "inputs": {}, "files": [], "type": "app-selector"}},
            "app": {"mode": "chat", "name": "bench"},
            "replies": [{"events": message_events(events), "delay_ms": delay_ms}]}


def _serve(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    for _ in range(200):
        ports = [c.laddr.port for child in psutil.Process(process.pid).children(recursive=True) + [
            psutil.Process(process.pid)] for c in child.net_connections() if c.status == psutil.CONN_LISTEN]
        if ports:
            return process, f"http://127.0.0.1:{ports[0]}"
        time.sleep(0.05)
    raise RuntimeError(f"{command} listens on no port")


def _worker(process: subprocess.Popen[str]) -> int:
    children = psutil.Process(process.pid).children()
    return children[0].pid if children else process.pid


def _stream(url: str, client: httpx.Client) -> tuple[float, float, bytes]:
    """(seconds to the first body byte, seconds to the end, body) of one streamed chat request."""
    started = time.perf_counter()
    first, data = 0.0, b""
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": "bench"}]}
    with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {KEY}"}) as response:
        for chunk in response.iter_raw():
            first = first or time.perf_counter() - started
            data += chunk
    return first, time.perf_counter() - started, data


def _median(work: Callable[[], float], trials: int = TRIALS) -> float:
    work()  # warm: connections, app form and mode caches
    return statistics.median(work() for _ in range(trials))


def main() -> int:
    print(f"bench.gateway: {machine()}, Python {sys.version.split()[0]}", flush=True)
    with ServiceApiEmulator(scenario=_scenario(N_SMALL)) as api, tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "gateway.toml"
        config.write_text(f'dify_url = "{api.base_url}"\nclient_keys = ["{KEY}"]\nlisten = "127.0.0.1:0"\n'
                          f'workers = 1\nthreads = {STREAMS + 28}\n[storage]\nsqlite = "{folder}/state.sqlite3"\n'
                          f'[[models]]\nname = "bench"\napp_key = "{api.app_key(APP)}"\n'
                          'memory_mode = "last_user_message"\n')
        gateway, gateway_url = _serve([sys.executable, "-m", "gateway", "--config", str(config)], {})
        relay, relay_url = _serve([sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", str(STREAMS + 28),
                                   "-w", "1", "-b", "127.0.0.1:0", "bench.gateway_relay:app"],
                                  {"BENCH_DIFY_URL": api.base_url, "BENCH_APP_KEY": api.app_key(APP)})
        try:
            targets = {"gateway": gateway_url + "/v1/chat/completions", "relay": relay_url + "/"}
            client = httpx.Client(timeout=60)
            cost, ttfb = {}, {}
            for name, url in targets.items():
                api.load_scenario(_scenario(N_SMALL))
                small = _median(lambda url=url: _stream(url, client)[1])
                ttfb[name] = _median(lambda url=url: _stream(url, client)[0], TRIALS * 3)
                api.load_scenario(_scenario(N_LARGE))
                large = _median(lambda url=url: _stream(url, client)[1])
                cost[name] = (large - small) / (N_LARGE - N_SMALL)
                print(f"   {name}: {N_SMALL} chunks {small * 1e3:.1f} ms, {N_LARGE} chunks {large * 1e3:.1f} ms",
                      flush=True)
            print(f"1. per-chunk cost: gateway {cost['gateway'] * 1e6:.1f} µs, relay floor "
                  f"{cost['relay'] * 1e6:.1f} µs (x{cost['gateway'] / cost['relay']:.2f})")
            print(f"2. time to first byte: gateway {ttfb['gateway'] * 1e3:.2f} ms, relay floor "
                  f"{ttfb['relay'] * 1e3:.2f} ms (+{(ttfb['gateway'] - ttfb['relay']) * 1e3:.2f} ms)")
            api.load_scenario(_scenario(20, delay_ms=50))
            worker = _worker(gateway)
            idle = rss(worker)
            errors: list[str] = []

            def one(i: int) -> None:
                try:
                    data = _stream(targets["gateway"], httpx.Client(timeout=60))[2]
                    if sse_content(data) != "tok " * 20:
                        errors.append(f"stream {i}: wrong text")
                except Exception as exc:  # noqa: BLE001 - counted, not raised: the figure is how many fail
                    errors.append(f"stream {i}: {exc}")

            with RssSampler(worker) as sampler:
                started = time.perf_counter()
                run_threads(STREAMS, one)
                took = time.perf_counter() - started
            print(f"3. {STREAMS} concurrent streams on one worker: {len(errors)} errors, {took:.2f} s in all, "
                  f"worker RSS idle {mib(idle)}, peak {mib(sampler.peak)}")
            for error in errors[:5]:
                print(f"   {error}")
        finally:
            for process in (gateway, relay):
                process.terminate()
                process.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
