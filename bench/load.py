"""`python -m bench.load` (`make load`): many concurrent streaming clients against one plugin process.

Each of `--clients` clients (default 100, all at once) holds one chat thread of `--turns` turns (default 20: 2,000
requests in all). Every turn is a streaming request carrying the thread's whole history, with conversation memory on,
so the plugin maps each thread to its own Dify conversation through plugin storage. The emulated app echoes.

Checked for every request: HTTP 200, a complete stream (one id, `[DONE]` last, no error chunk), the reply is exactly
the client's own newest message (no cross-talk), and no Dify conversation ever serves two clients. After the run:
zero errors, the same plugin process alive, and its RSS within `--rss-bound-mib` of its RSS before the run (measured
after a warm-up round at full concurrency, so that the bound speaks of leaks, not of the first allocation of
buffers). Bounded: every request times out after 60 s and the whole run after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .common import (
    ROOT,
    Client,
    RssSampler,
    chat_body,
    machine,
    mib,
    quiet_emulator_logs,
    rss,
    run_threads,
    running,
    scenario,
    sse_content,
)

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    latencies: list[float] = field(default_factory=list)
    conversations: dict[str, int] = field(default_factory=dict)  # Dify conversation id -> client
    continued: int = 0

    def start(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def end(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def client_thread(emu, client_id: int, turns: int, tally: Tally, start: threading.Barrier, deadline: float) -> None:
    client = Client(emu, timeout=60)
    history: list[dict[str, str]] = []
    rng = random.Random(client_id)
    first_conversation = None
    start.wait()
    for turn in range(turns):
        if time.monotonic() > deadline:
            tally.error(f"client {client_id}: run deadline passed before turn {turn}")
            return
        query = f"client {client_id:03d} turn {turn:02d} {uuid.uuid4().hex} " + " ".join(rng.sample(WORDS, 5))
        messages = [*history, {"role": "user", "content": query}]
        body = {**chat_body(stream=True), "messages": messages}
        tally.start()
        started = time.perf_counter()
        try:
            status, data, conversation = request(client, body)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            tally.error(f"client {client_id} turn {turn}: {type(exc).__name__}: {exc}")
            client.close()
            continue
        finally:
            tally.end()
        elapsed = time.perf_counter() - started
        try:
            if status != 200:
                raise ValueError(f"HTTP {status}: {data[:200]!r}")
            answer = sse_content(data)
            if answer != query:
                raise ValueError(f"cross-talk: asked {query!r}, got {answer[:120]!r}")
        except ValueError as exc:
            tally.error(f"client {client_id} turn {turn}: {exc}")
            continue
        with tally.lock:
            owner = tally.conversations.setdefault(conversation, client_id)
            if owner != client_id:
                tally.errors.append(f"conversation {conversation} serves clients {owner} and {client_id}")
            if turn and conversation == first_conversation:
                tally.continued += 1
            tally.ok += 1
            tally.latencies.append(elapsed)
        first_conversation = first_conversation or conversation
        history = [*messages, {"role": "assistant", "content": answer}]


def request(client: Client, body: dict) -> tuple[int, bytes, str]:
    """One streaming chat request; (status, body, the Dify conversation id from the first chunk)."""
    status, data = client.request("POST", "/v1/chat/completions", body)
    conversation = ""
    marker = b'"conversation_id":"'
    at = data.find(marker)
    if at >= 0:
        conversation = data[at + len(marker): data.index(b'"', at + len(marker))].decode()
    return status, data, conversation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--turns", type=int, default=20, help="requests per client")
    parser.add_argument("--delay-ms", type=int, default=5, help="delay before each event of the echo app")
    parser.add_argument("--plugin-dir", default=str(ROOT))
    parser.add_argument("--rss-bound-mib", type=float, default=16.0,
                        help="fail if the plugin's RSS after the run exceeds its RSS before by more than this")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="fail if the run takes longer")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the run (new threads each time) and print the RSS after each round")
    args = parser.parse_args(argv)

    print(f"load: {machine()}; {args.clients} concurrent streaming clients x {args.turns} turns = "
          f"{args.clients * args.turns} requests against one plugin process", flush=True)
    failures: list[str] = []
    with quiet_emulator_logs(), running(Path(args.plugin_dir), scenario(
            [{"echo": True, "delay_ms": args.delay_ms}], memory_mode="conversation")) as emu:
        pid = emu.plugin_pid
        # Warm-up at full concurrency: the RSS baseline then includes the buffers concurrency needs.
        warm = Tally()
        run_threads(args.clients, lambda i: client_thread(emu, 10_000 + i, 1, warm, barrier_of(args.clients),
                                                          time.monotonic() + 60))
        if warm.errors:
            failures.append(f"warm-up: {warm.errors[0]}")
        settle()
        before = rss(pid)
        tally = Tally()
        barrier = threading.Barrier(args.clients)
        deadline = time.monotonic() + args.max_seconds
        rounds = []
        with RssSampler(pid, 0.05) as sampler:
            started = time.perf_counter()
            for round_ in range(args.rounds):
                run_threads(args.clients, lambda i, r=round_: client_thread(emu, r * 1000 + i, args.turns, tally,
                                                                            barrier, deadline))
                if args.rounds > 1:
                    settle(1.0)
                    rounds.append(rss(pid))
            elapsed = time.perf_counter() - started
        settle()
        after = rss(pid)
        alive = emu.plugin_alive and emu.plugin_pid == pid and psutil.pid_exists(pid)

    total = args.clients * args.turns * args.rounds
    if rounds:
        print("plugin RSS after each round: " + ", ".join(mib(value) for value in rounds))
    latencies = sorted(tally.latencies) or [0.0]
    print(f"\nrequests: {tally.ok} ok of {total} in {elapsed:.1f} s ({tally.ok / elapsed:.0f} req/s), "
          f"peak {tally.peak_in_flight} in flight")
    print(f"latency: median {statistics.median(latencies) * 1e3:.0f} ms, "
          f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms")
    print(f"threads kept in their own Dify conversation: {tally.continued} of "
          f"{total - args.clients * args.rounds} follow-up turns; "
          f"{len(tally.conversations)} conversations for {args.clients * args.rounds} threads")
    print(f"plugin RSS: {mib(before)} before, peak {mib(sampler.peak)}, {mib(after)} after "
          f"({(after - before) / 2**20:+.1f} MiB; bound +{args.rss_bound_mib:.0f} MiB)")
    failures += tally.errors[:20]
    if len(tally.errors) > 20:
        failures.append(f"... and {len(tally.errors) - 20} more errors")
    if tally.ok != total:
        failures.append(f"{total - tally.ok} of {total} requests failed")
    if tally.peak_in_flight < args.clients:
        failures.append(f"only {tally.peak_in_flight} requests were ever in flight at once (wanted {args.clients})")
    if after - before > args.rss_bound_mib * 2**20:
        failures.append(f"plugin RSS grew by {(after - before) / 2**20:.1f} MiB (bound {args.rss_bound_mib} MiB)")
    if not alive:
        failures.append("the plugin process did not survive the run")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"\nOK: {total} requests, 0 errors, no cross-talk, plugin RSS within +{args.rss_bound_mib:.0f} MiB")
    return 0


_barriers: dict[int, threading.Barrier] = {}


def barrier_of(count: int) -> threading.Barrier:
    return _barriers.setdefault(count, threading.Barrier(count))


def settle(seconds: float = 2.0) -> None:
    gc.collect()
    time.sleep(seconds)


if __name__ == "__main__":
    sys.exit(main())
