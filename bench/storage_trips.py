"""Plugin-storage round trips per request, counted from the emulator's record of backwards invocations.

Every storage call is one round trip through the daemon (a stdio line each way, and the daemon's own database or
object store behind it). Counted per request: the reads made before Dify is called (they delay the answer) and the
calls made after it (they delay the next request of the same thread, and hold the session open), for each
memory situation a client meets. `python -m bench.storage_trips` prints the table alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dify_emulator import Emulator

from .common import ROOT, Client, chat_body, quiet_emulator_logs, scenario

STORAGE_OPS = ("get", "exist", "del", "set")


@dataclass(frozen=True)
class Trips:
    before: tuple[str, ...]  # storage operations before the app was invoked, in order
    after: tuple[str, ...]  # and after it

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> Trips:
        before: list[str] = []
        after: list[str] = []
        side = before
        for record in records:
            if record["type"] == "app":
                side = after
            elif record["type"] == "storage":
                side.append(str(record["request"].get("opt")))
        return cls(tuple(before), tuple(after))

    def describe(self) -> dict[str, Any]:
        return {"before": list(self.before), "after": list(self.after), "total": len(self.before) + len(self.after),
                "reads_before": sum(op in ("get", "exist") for op in self.before),
                "writes": sum(op in ("set", "del") for op in (*self.before, *self.after))}


def _turn(emu: Emulator, path: str, body: dict[str, Any]) -> tuple[Trips, bytes]:
    emu.records.clear()
    status, data = Client(emu).request("POST", path, body)
    if status != 200:
        raise RuntimeError(f"{path} -> {status}: {data[:300]!r}")
    return Trips.of(list(emu.records)), data


def _chat(history: list[dict[str, str]], stream: bool = False) -> dict[str, Any]:
    return {**chat_body(stream=stream), "messages": history}


def _answer(data: bytes) -> str:
    return str(json.loads(data)["choices"][0]["message"]["content"])


def _response(data: bytes) -> tuple[str, str]:
    body = json.loads(data)
    return str(body["id"]), str(body["output"][-1]["content"][0]["text"])


Scenario = Callable[[Emulator], Trips]


def chat_cold(emu: Emulator) -> Trips:
    """The first turn of a thread, storage empty (its record does not exist yet)."""
    return _turn(emu, "/v1/chat/completions", _chat([{"role": "user", "content": "cold thread, turn 1"}]))[0]


def chat_cold_shared(emu: Emulator) -> Trips:
    """The first turn of a thread whose record already exists (other threads use it): the usual first turn."""
    for i in range(400):  # enough threads that every record exists
        _turn(emu, "/v1/chat/completions", _chat([{"role": "user", "content": f"filler {i}"}]))
    return _turn(emu, "/v1/chat/completions", _chat([{"role": "user", "content": "another thread, turn 1"}]))[0]


def chat_warm(emu: Emulator) -> Trips:
    """The second turn of a thread: the plugin finds its Dify conversation, then remembers the new history."""
    first = [{"role": "user", "content": "warm thread, turn 1"}]
    _, data = _turn(emu, "/v1/chat/completions", _chat(first))
    history = [*first, {"role": "assistant", "content": _answer(data)}, {"role": "user", "content": "turn 2"}]
    return _turn(emu, "/v1/chat/completions", _chat(history))[0]


def chat_warm_streamed(emu: Emulator) -> Trips:
    first = [{"role": "user", "content": "streamed thread, turn 1"}]
    _, data = _turn(emu, "/v1/chat/completions", _chat(first))
    history = [*first, {"role": "assistant", "content": _answer(data)}, {"role": "user", "content": "turn 2"}]
    return _turn(emu, "/v1/chat/completions", _chat(history, stream=True))[0]


def responses_previous(emu: Emulator) -> Trips:
    """A Responses turn continuing `previous_response_id`."""
    _, data = _turn(emu, "/v1/responses", {"model": "dify-app", "input": "chain, turn 1"})
    previous, _ = _response(data)
    return _turn(emu, "/v1/responses", {"model": "dify-app", "input": "turn 2", "previous_response_id": previous})[0]


def responses_store_false(emu: Emulator) -> Trips:
    """Codex's way: `store: false`, the whole conversation in `input` every turn (thread memory matches it)."""
    first = [{"role": "user", "content": "codex thread, turn 1"}]
    _, data = _turn(emu, "/v1/responses", {"model": "dify-app", "input": first, "store": False})
    _, answer = _response(data)
    turn2 = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "turn 2"}]
    return _turn(emu, "/v1/responses", {"model": "dify-app", "input": turn2, "store": False})[0]


def chat_last_user_message(emu: Emulator) -> Trips:
    emu.load_scenario(scenario(memory_mode="last_user_message"))
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "a"},
               {"role": "user", "content": "b"}]
    return _turn(emu, "/v1/chat/completions", _chat(history))[0]


SCENARIOS: list[tuple[str, Scenario]] = [
    ("chat, first turn, empty storage (`conversation`)", chat_cold),
    ("chat, first turn, its record in use (`conversation`)", chat_cold_shared),
    ("chat, warm thread, turn 2 (`conversation`)", chat_warm),
    ("chat, warm thread, turn 2, streamed (`conversation`)", chat_warm_streamed),
    ("responses, `previous_response_id` (`conversation`)", responses_previous),
    ("responses, `store: false`, whole input, turn 2 (`conversation`)", responses_store_false),
    ("chat, turn 2 (`last_user_message`)", chat_last_user_message),
]


def storage_trips(plugin_dir: Any = ROOT) -> dict[str, dict[str, Any]]:
    """Each scenario in a fresh emulator (empty storage) with `conversation` memory, unless it says otherwise."""
    result = {}
    for name, run in SCENARIOS:
        with Emulator(scenario=scenario(memory_mode="conversation"), plugin_dir=plugin_dir) as emu:
            result[name] = run(emu).describe()
    return result


def trips_table(trips: dict[str, dict[str, Any]]) -> str:
    lines = ["| Request | Before Dify | After Dify | Round trips |", "|---|---|---|---|"]
    for name, figure in trips.items():
        lines.append(f"| {name} | {', '.join(figure['before']) or '-'} | {', '.join(figure['after']) or '-'} | "
                     f"{figure['total']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    with quiet_emulator_logs():
        print(trips_table(storage_trips()))
    sys.exit(0)
