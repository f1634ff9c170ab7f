"""A survey of every API's fuzzing that does not stop at the first violation: the tests do (a failing test must
fail at once), but a list of distinct defects needs the run to go on past the known ones.

    python -m tests.fuzz.survey [--examples N] [--api NAME ...] [--plugin]

Prints, per API, how many requests got which outcome, and for each distinct violation (by the oracle check that
raised it, the status and the error code) how often it came and the smallest request that showed it. Not a test
and not part of `make test` or `make fuzz`.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .apis import APIS, FuzzApi
from .harness import deployments, run_in_process
from .headers import CORE, PLUGIN
from .oracle import STATS, Answer, Seen, Violation, check_answer
from .plugin_target import NotForThePlugin, plugin_target
from .strategies import FuzzRequest

Send = Callable[[FuzzRequest], tuple[Seen, Answer]]


@dataclass
class Finding:
    count: int = 0
    smallest: FuzzRequest | None = None
    where: str = ""
    answer: str = ""


@dataclass
class Survey:
    findings: dict[str, Finding] = field(default_factory=dict)

    def record(self, api: str, request: FuzzRequest, error: BaseException, answer: Answer | None) -> None:
        frames = traceback.extract_tb(error.__traceback__)
        # Where it went wrong: the innermost frame in the core if the core raised, else the oracle's check.
        frame = next((f for f in reversed(frames) if "/openai_bridge/" in f.filename), None) or next(
            (f for f in reversed(frames) if "/tests/fuzz/" in f.filename), frames[-1])
        code = ""
        if answer is not None:
            try:
                code = json.loads(answer.body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                pass
        key = f"{api}: {type(error).__name__} at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" + (
            f" [{answer.status} {code}]" if answer is not None else "")
        finding = self.findings.setdefault(key, Finding())
        finding.count += 1
        if finding.smallest is None or _size(request) < _size(finding.smallest):
            finding.smallest, finding.where = request, str(error)[:400]
            finding.answer = "" if answer is None else f"{answer.status} {dict(answer.headers)} {answer.body[:300]!r}"


def _size(request: FuzzRequest) -> int:
    return len(request.body) + len(request.path) + sum(len(n) + len(v) for n, v in request.headers)


def survey(api: FuzzApi, send: Send, examples: int, target: str, result: Survey) -> None:
    reach = PLUGIN if target.startswith("plugin") else CORE

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        request = data.draw(api.requests(reach))
        answer = None
        try:
            seen, answer = send(request)
            check_answer(seen, answer, target=f"{target}/{api.name}")
        except NotForThePlugin:
            STATS[f"{target}/{api.name}: not sent (the URL leaves the endpoint)"] += 1
        except Violation as violation:
            STATS[f"{target}/{api.name}: VIOLATION"] += 1
            result.record(api.name, request, violation, answer)
        except Exception as crash:  # noqa: BLE001 - a crash is a finding too, recorded like a violation
            STATS[f"{target}/{api.name}: CRASH {type(crash).__name__}"] += 1
            result.record(api.name, request, crash, answer)

    run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2_000)
    parser.add_argument("--api", action="append", choices=[api.name for api in APIS])
    parser.add_argument("--plugin", action="store_true", help="through the real plugin process")
    args = parser.parse_args()
    apis = [api for api in APIS if not args.api or api.name in args.api]
    result = Survey()
    with ExitStack() as stack:
        if args.plugin:
            plugin = stack.enter_context(plugin_target())
            sends: list[Send] = [plugin.send]
        else:
            sends = [lambda request, d=d: run_in_process(d, request) for d in deployments()]
        for api in apis:
            started = time.monotonic()
            target = "plugin" if args.plugin else "core"
            # In-process, each deployment gets an equal share of the examples.
            for send in sends:
                survey(api, send, max(1, args.examples // len(sends)), target, result)
            print(f"{target}/{api.name}: {time.monotonic() - started:.1f} s", flush=True)
        if args.plugin:
            print("plugin alive afterwards:", plugin.emu.plugin_alive, "log problems:", len(plugin.problems_in_logs()))
    for outcome, count in sorted(STATS.items()):
        print(f"{count:7d}  {outcome}")
    for key, finding in sorted(result.findings.items(), key=lambda item: -item[1].count):
        print(f"\n=== {finding.count}x {key}\n{finding.where}\nanswer: {finding.answer}\nrequest: "
              f"{finding.smallest!r}"[:3000])


if __name__ == "__main__":
    main()
