"""Minimal reproducers of the defects the fuzzing found, each printed with the answer it gets today.

    python -m tests.fuzz.reproducers [--plugin]

In-process through `openai_bridge.http.server.handle` (the fuzz harness's echo Dify), and with --plugin also through the
real plugin process (dify_emulator). Not a test: the fuzz tests are the checks; these are the smallest requests
that show each failure, for whoever fixes the core. A fixed defect prints an acceptable answer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from .harness import AUTH, Deployment, EchoDify, _settings, deployments, run_in_process
from .headers import ALLOWED_ORIGIN
from .oracle import Answer, Seen, Violation, check_answer
from .strategies import API_KEY, FuzzRequest


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def body(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


@dataclass(frozen=True)
class Reproducer:
    title: str
    request: FuzzRequest
    deployment: str = "memory+files"  # see harness.deployments
    in_process: bool = True
    plugin: bool = True
    settings: dict[str, Any] = field(default_factory=dict)  # a deployment of its own, with these settings


ORIGIN = [*AUTH, ("Origin", ALLOWED_ORIGIN)]
REPRODUCERS = [
    Reproducer("1. A raised error loses the CORS headers (here a 400 for a missing model)",
               FuzzRequest("POST", "/v1/chat/completions", ORIGIN, b"{}")),
    Reproducer("1b. ... on every API (Responses: 400 invalid JSON)",
               FuzzRequest("POST", "/v1/responses", ORIGIN, b"null")),
    Reproducer("1c. ... and for the 413 of a body Dify cut (legacy Completions)",
               FuzzRequest("POST", "/v1/completions", ORIGIN, b'{"model": "m", "prompt": "' + b"x" * 10_485_760)),
    Reproducer("2. Responses: an `inputs` key that looks like a chat param, with a deep value: 500",
               FuzzRequest("POST", "/v1/responses", AUTH,
                           body({"model": "m", "input": "hi", "inputs": {"messages[99].content": nested(33)}}))),
    Reproducer("2b. ... the same key with an index that exists: a 400 naming a param the client did not send",
               FuzzRequest("POST", "/v1/responses", AUTH,
                           body({"model": "m", "input": "hi", "inputs": {"messages[0].content": nested(33)}}))),
    Reproducer("3. Thousands of stop sequences cost at every delta (30,000 against a 2,000-token answer)",
               FuzzRequest("POST", "/v1/chat/completions", AUTH,
                           body({"model": "m", "messages": [{"role": "user", "content": "a" * 8_000}],
                                 "stop": ["ééé"] * 30_000})),
               deployment="plain", plugin=False),
    Reproducer("3b. ... legacy Completions alike",
               FuzzRequest("POST", "/v1/completions", AUTH,
                           body({"model": "m", "prompt": "a" * 8_000, "stop": ["ééé"] * 30_000})),
               deployment="plain", plugin=False),
    Reproducer("4. A path with an encoded line feed gets the SDK's plain-text 404 (no envelope, no x-request-id)",
               FuzzRequest("GET", "/v1/a%0Ab", ORIGIN, b""), in_process=False),
    Reproducer("4b. ... also right after a known route",
               FuzzRequest("POST", "/v1/chat/completions%0A", ORIGIN, b"{}"), in_process=False),
    Reproducer("5. A conversation id is echoed into the error message (here the key, sent in the wrong header)",
               FuzzRequest("POST", "/v1/chat/completions", [*AUTH, ("X-Dify-Conversation-Id", API_KEY)],
                           body({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))),
    Reproducer("6. A model name with '/' is listed by /models ...",
               FuzzRequest("GET", "/v1/models", AUTH, b""), settings={"model_name": "org/dify app"}, plugin=False),
    Reproducer("6b. ... but /models/{id} cannot retrieve it (the oracle cannot know this 404 is wrong)",
               FuzzRequest("GET", "/v1/models/org/dify-app", AUTH, b""),
               settings={"model_name": "org/dify app"}, plugin=False),
]


def show(where: str, seen: Seen, answer: Answer) -> None:
    try:
        verdict = "acceptable: " + check_answer(seen, answer, target=f"reproducer/{where}")
    except Violation as violation:
        verdict = f"VIOLATION: {str(violation).split(' (status')[0][:200]}"
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("date", "content-length")}
    print(f"  {where}: {answer.status} in {answer.seconds:.2f} s {headers}\n    {answer.body[:240]!r}\n    {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", action="store_true", help="also through the real plugin process")
    args = parser.parse_args()
    by_name = {d.name: d for d in deployments()}
    send_plugin: Callable[[FuzzRequest], tuple[Seen, Answer]] | None = None
    with ExitStack() as stack:
        if args.plugin:
            from .plugin_target import plugin_target

            send_plugin = stack.enter_context(plugin_target()).send
        for case in REPRODUCERS:
            request = case.request
            print(f"\n{case.title}\n  {request.method} {request.path} {request.headers} {request.body[:160]!r}"
                  + (f" ({len(request.body)} bytes)" if len(request.body) > 160 else ""))
            deployment = by_name[case.deployment]
            if case.settings:
                deployment = Deployment("custom", _settings(**case.settings), EchoDify())
            if case.in_process:
                show(f"in-process ({deployment.name})", *run_in_process(deployment, request))
            if case.plugin and send_plugin is not None:
                show("plugin", *send_plugin(request))


if __name__ == "__main__":
    main()
