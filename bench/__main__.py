"""`python -m bench` (`make bench`): how fast the plugin is, measured in one run on this machine.

Everything runs on loopback through dify_emulator, with the real plugin process (`python -m main` over stdio). The
baselines are the probe plugin (tests/fixtures/probe_plugin) in the same SDK runtime, measured in the same run:
- `probe /stream`: streams N pre-built chunks, receives nothing (the floor the issue names);
- `probe /app`: invokes the same emulated app and forwards each Dify event as one line, untranslated (the floor
  for anything that relays a Dify stream through the SDK: every event also has to come *in* over stdio).

Figures (medians over repeated trials; nothing here is asserted anywhere):
1. per-chunk cost of a streamed reply: (T(N_LARGE) - T(N_SMALL)) / (N_LARGE - N_SMALL) for a reply of N chunks,
   client-side wall time, and its ratio to each baseline;
2. time to first content byte added by the plugin: emulator timestamps (the optional observer hook) from writing
   the app's first event to the plugin's stdin to reading the first body chunk that carries content;
3. non-streaming requests/second with an instant app from 1 and 8 clients, as a ratio to `probe /whole` (the
   same streamed Dify call collected into one JSON body in the probe plugin: bench/whole.py);
4. the plugin process's RSS when idle and its peak with 100 concurrent streams;
5. the pure translation core's events/second (in-process, no SDK);
6. plugin-storage round trips per request, before and after Dify is called (bench/storage_trips.py);
7. where a non-streaming request's time goes inside the plugin process, this plugin's and the floor's: in the SDK's
   app stream, or the plugin's own work (bench/split.py, counted by bench/plugin_hook in the plugin process).

`BENCH_PLUGIN_DIR=<folder>` (or `--plugin-dir`) runs scenarios 1-4 against another endpoint plugin as well, with the
same routes and settings, and prints it in its own column.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dify_emulator import Emulator
from dify_emulator.observe import SessionTimeline

from .common import (
    PROBE_DIR,
    ROOT,
    Client,
    RssSampler,
    Sample,
    chat_body,
    machine,
    message_events,
    mib,
    quiet_emulator_logs,
    rss,
    run_threads,
    scenario,
    sse_content,
)
from .core import core_events_per_second
from .split import split_rows, time_split
from .storage_trips import storage_trips, trips_table
from .whole import FLOOR, ratio_rows, whole_throughputs

N_SMALL, N_LARGE = 50, 1050
CLIENTS = (1, 8)  # concurrent clients of the non-streaming runs
CONTENT = re.compile(rb'"content":"[^"]')


@dataclass
class Figures:
    name: str
    values: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- 1. per-chunk cost


def stream_cost(plugins: list[tuple[str, Emulator]], probe: Emulator, trials: int) -> dict[str, dict[str, float]]:
    """Median wall time of an N-chunk stream for each N, per plugin and baseline, then the per-chunk slope."""
    sizes = {}
    for name, emu in plugins:
        emu.load_scenario(scenario([{"events": message_events(N_LARGE)}]))
        _, data = Client(emu).timed("POST", "/v1/chat/completions", chat_body())
        frames = data.count(b"\n\n")
        sizes[name] = (frames - N_LARGE, len(data) // frames)  # frames besides the deltas, bytes per frame
    extra, frame_size = sizes[plugins[0][0]]
    timings: dict[tuple[str, int], list[float]] = {}
    clients = {name: Client(emu) for name, emu in plugins}
    probe_client = Client(probe)
    for _ in range(trials):
        for n in (N_SMALL, N_LARGE):
            for name, emu in plugins:
                emu.load_scenario(scenario([{"events": message_events(n)}]))
                elapsed, data = clients[name].timed("POST", "/v1/chat/completions", chat_body())
                if sse_content(data) != "tok " * n:
                    raise RuntimeError(f"{name}: wrong answer for {n} chunks")
                timings.setdefault((name, n), []).append(elapsed)
            elapsed, _ = probe_client.timed("GET", f"/stream?n={n + extra}&size={frame_size}")
            timings.setdefault(("probe /stream", n), []).append(elapsed)
            probe.load_scenario({"replies": [{"events": message_events(n)}]})
            elapsed, _ = probe_client.timed("POST", "/app", {"query": "hi"})
            timings.setdefault(("probe /app", n), []).append(elapsed)
    result = {}
    for name in [*(name for name, _ in plugins), "probe /stream", "probe /app"]:
        small, large = (statistics.median(timings[(name, n)]) for n in (N_SMALL, N_LARGE))
        result[name] = {"per_chunk_us": (large - small) / (N_LARGE - N_SMALL) * 1e6,
                        f"t{N_SMALL}_ms": small * 1e3, f"t{N_LARGE}_ms": large * 1e3}
    result["_frame_bytes"] = {"plugin": frame_size, "probe /stream": frame_size}
    return result


# ---------------------------------------------------------------- 2. time to first content byte


def first_byte(emu: Emulator, method: str, path: str, body: dict[str, Any], trials: int,
               is_content: Callable[[bytes], bool]) -> Sample:
    timeline = SessionTimeline(keep_details=True)
    client = Client(emu)
    emu.observer = timeline
    try:
        for _ in range(trials):
            client.timed(method, path, body)
    finally:
        emu.observer = None
    added = []
    for session in list(timeline.sessions):
        sent = timeline.first(session, "app_event")
        back = timeline.first(session, "chunk", is_content)
        if sent is not None and back is not None:
            added.append((back - sent) * 1e3)
    return Sample.of(added)


def ttfb(plugins: list[tuple[str, Emulator]], probe: Emulator, trials: int) -> dict[str, Sample]:
    # The app's first event comes 20 ms after the call, as a model's first token would: the plugin is waiting.
    reply = [{"events": message_events(3, "Hello "), "delay_ms": 20}]
    result = {}
    for name, emu in plugins:
        emu.load_scenario(scenario(reply))
        first_byte(emu, "POST", "/v1/chat/completions", chat_body(), 3, CONTENT.search)  # warm-up
        result[name] = first_byte(emu, "POST", "/v1/chat/completions", chat_body(), trials,
                                  lambda chunk: CONTENT.search(chunk) is not None)
    probe.load_scenario({"replies": reply})
    result["probe /app"] = first_byte(probe, "POST", "/app", {"query": "hi"}, trials, lambda chunk: bool(chunk))
    return result


# ---------------------------------------------------------------- 4. memory with 100 concurrent streams


def concurrent_rss(emu: Emulator, method: str, path: str, body: dict[str, Any], streams: int,
                   check: Callable[[bytes], bool]) -> dict[str, float]:
    idle = rss(emu.plugin_pid)
    barrier = threading.Barrier(streams)

    def work(i: int) -> None:
        client = Client(emu)
        barrier.wait()
        status, data = client.request(method, path, body)
        client.close()
        if status != 200 or not check(data):
            raise RuntimeError(f"stream {i}: {status} {data[-200:]!r}")

    with RssSampler(emu.plugin_pid) as sampler:
        started = time.perf_counter()
        run_threads(streams, work)
        elapsed = time.perf_counter() - started
    return {"idle_rss": idle, "peak_rss": sampler.peak, "seconds": elapsed}


def memory(plugins: list[tuple[str, Emulator]], probe: Emulator, streams: int) -> dict[str, dict[str, float]]:
    # Each stream lasts about a second (20 deltas, 50 ms apart), so all of them are open at once.
    reply = [{"events": message_events(20), "delay_ms": 50}]
    result = {}
    for name, emu in plugins:
        emu.load_scenario(scenario(reply))
        result[name] = concurrent_rss(emu, "POST", "/v1/chat/completions", chat_body(), streams,
                                      lambda data: sse_content(data) == "tok " * 20)
    probe.load_scenario({"replies": reply})
    result["probe /app"] = concurrent_rss(probe, "POST", "/app", {"query": "hi"}, streams,
                                          lambda data: b"message_end" in data)
    return result


# ---------------------------------------------------------------- profiling


def profile_plugin(emu: Emulator, seconds: float, out: Path) -> str:
    """py-spy on the plugin process while it streams (when py-spy is installed): the hottest functions."""
    emu.load_scenario(scenario([{"events": message_events(5000)}]))
    spy = subprocess.Popen(["py-spy", "record", "--pid", str(emu.plugin_pid), "--format", "raw", "--nonblocking",
                            "--rate", "200", "--duration", str(int(seconds)), "--output", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = Client(emu)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.timed("POST", "/v1/chat/completions", chat_body())
    spy.wait(60)
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frame = stack.split(";")[-1]
        if "acquire_with_timeout" in frame or "gevent/hub.py" in frame:
            continue  # idle native threads and the event loop waiting
        total += int(count)
        own[frame] = own.get(frame, 0) + int(count)
    top = sorted(own.items(), key=lambda item: -item[1])[:15]
    return "\n".join(f"  {100 * c / total:5.1f}%  {frame}" for frame, c in top)


# ---------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin-dir", default=os.environ.get("BENCH_PLUGIN_DIR") or None,
                        help="another endpoint plugin to measure side by side (default: $BENCH_PLUGIN_DIR)")
    parser.add_argument("--trials", type=int, default=9, help="trials per streamed-reply figure (median)")
    parser.add_argument("--ttfb-trials", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="duration of each non-streaming throughput run (3 rounds of each figure)")
    parser.add_argument("--streams", type=int, default=100, help="concurrent streams for the memory figure")
    parser.add_argument("--profile", action="store_true", help="also profile the plugin process with py-spy")
    parser.add_argument("--output", default=str(ROOT / "bench-results"), help="folder for the JSON results")
    args = parser.parse_args(argv)

    started = time.time()
    print(f"bench: {machine()}, Python {sys.version.split()[0]}", flush=True)
    results: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    dirs = [("this plugin", ROOT)]
    if args.plugin_dir:
        dirs.append((f"other ({Path(args.plugin_dir).name})", Path(args.plugin_dir).resolve()))
    with quiet_emulator_logs(), Emulator(plugin_dir=PROBE_DIR) as probe:
        emulators = [(name, Emulator(scenario=scenario(), plugin_dir=path).start()) for name, path in dirs]
        try:
            print("1/7 per-chunk cost of a streamed reply ...", flush=True)
            results["stream"] = stream_cost(emulators, probe, args.trials)
            print("2/7 time to first content byte ...", flush=True)
            results["ttfb"] = {k: vars(v) for k, v in ttfb(emulators, probe, args.ttfb_trials).items()}
            print("3/7 non-streaming throughput against probe /whole ...", flush=True)
            results["throughput"] = whole_throughputs(emulators, probe, args.seconds, CLIENTS)
            print(f"4/7 RSS with {args.streams} concurrent streams ...", flush=True)
            results["memory"] = memory(emulators, probe, args.streams)
            if args.profile:
                print("    profiling the plugin process with py-spy ...", flush=True)
                try:
                    results["profile"] = profile_plugin(emulators[0][1], 8, Path(args.output) / "py-spy.txt")
                except (OSError, subprocess.SubprocessError) as exc:
                    results["profile"] = f"py-spy unavailable: {exc}"
        finally:
            for _, emu in emulators:
                emu.stop()
    print("5/7 translation core ...", flush=True)
    results["core"] = core_events_per_second()
    print("6/7 plugin-storage round trips per request ...", flush=True)
    with quiet_emulator_logs():
        results["storage_trips"] = storage_trips()
    print("7/7 where a non-streaming request's time goes in the plugin process ...", flush=True)
    with quiet_emulator_logs():
        results["split"] = time_split()
    results["seconds"] = time.time() - started
    print(report(results, [name for name, _ in dirs], args))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\n(results saved to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
    return 0


def report(results: dict[str, Any], names: list[str], args: argparse.Namespace) -> str:
    stream, ttfb_, thr, mem = results["stream"], results["ttfb"], results["throughput"], results["memory"]
    floor, relay = stream["probe /stream"]["per_chunk_us"], stream["probe /app"]["per_chunk_us"]
    lines = [f"\n## Benchmark ({results['machine']}; {args.trials} trials per streamed figure, "
             f"{args.ttfb_trials} for first bytes)\n"]
    lines.append("| Figure | " + " | ".join(names) + " | probe /stream | probe /app |")
    lines.append("|---|" + "---|" * (len(names) + 2))
    lines.append("| Per-chunk cost of a streamed reply (µs) | " + " | ".join(
        f"{stream[n]['per_chunk_us']:.1f}" for n in names) + f" | {floor:.1f} | {relay:.1f} |")
    lines.append("| ... as a ratio to probe /stream (goal <= 1.25x) | " + " | ".join(
        f"{stream[n]['per_chunk_us'] / floor:.2f}x" for n in names) + " | 1.00x | " + f"{relay / floor:.2f}x |")
    lines.append("| ... as a ratio to probe /app | " + " | ".join(
        f"{stream[n]['per_chunk_us'] / relay:.2f}x" for n in names) + f" | {floor / relay:.2f}x | 1.00x |")
    lines.append(f"| {N_LARGE}-chunk stream, end to end (ms) | " + " | ".join(
        f"{stream[n][f't{N_LARGE}_ms']:.1f}" for n in names) + " | " + " | ".join(
        f"{stream[b][f't{N_LARGE}_ms']:.1f}" for b in ("probe /stream", "probe /app")) + " |")
    lines.append("| First content byte after Dify's first event, median / p90 (ms; goal < 2) | " + " | ".join(
        f"{ttfb_[n]['median']:.2f} / {ttfb_[n]['p90']:.2f}" for n in names) + " | - | " +
        f"{ttfb_['probe /app']['median']:.2f} / {ttfb_['probe /app']['p90']:.2f} |")
    lines += ratio_rows(thr, names, CLIENTS)
    lines.append(f"| Idle RSS / peak RSS with {args.streams} concurrent streams | " + " | ".join(
        f"{mib(mem[n]['idle_rss'])} / {mib(mem[n]['peak_rss'])}" for n in names) + " | - | " +
        f"{mib(mem['probe /app']['idle_rss'])} / {mib(mem['probe /app']['peak_rss'])} |")
    core = results["core"]
    lines.append(f"| Translation core, events/s (in-process) | {core['pipeline_events_per_s']:,.0f} "
                 f"(+ request path, reader thread: {core['handle_events_per_s']:,.0f}) |" + " - |" * (len(names) + 1))
    lines.append("")
    lines.append(f"Non-streaming: instant echo app; {FLOOR} collects the same streamed Dify call in the probe "
                 f"plugin and returns one JSON body. Frames of {stream['_frame_bytes']['plugin']} bytes. "
                 f"Run took {results['seconds']:.0f} s.")
    lines.append("\nPlugin-storage round trips per request (`conversation` memory unless named; each costs about "
                 "as much as the Dify call's own stdio round trip):\n")
    lines.append(trips_table(results["storage_trips"]))
    lines.append("\nInside the plugin process, one client, the instant echo app (the SDK's app stream: writing the "
                 "call, then reading every Dify event in over stdio; own work: everything else in the handler):\n")
    lines += split_rows(results["split"])
    if "profile" in results:
        lines.append("\nHottest functions in the plugin process while streaming (py-spy, self time):\n" +
                     results["profile"])
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
