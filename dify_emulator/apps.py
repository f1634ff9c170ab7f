"""The emulated Dify apps: `app` and `fetch_app` backwards invocations.

Checks run in Dify's order (`PluginAppBackwardsInvocation.invoke_app` and the app generators): app lookup,
the app's mode (a completion app fails with a 500, a mode the plugin path does not know with 400 "unexpected
app type"), missing query, agent-chat blocking, conversation lookup, then the inputs, validated on every turn. Only an
invocation that gets past them consumes a scripted reply.
"""

import copy
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .app_events import BlockingFailure, Run, echo_events, fold_blocking
from .conversations import ConversationStore
from .errors import (
    FETCH_APP_FAILED,
    INTERNAL_SERVER_ERROR,
    INVOKE_APP_FAILED,
    BackwardsError,
    app_failure,
    invalid_param,
)
from .scenario import CHAT_MODES, deep_merge, selected_app_ids

DEFAULT_PARAMETERS: dict[str, Any] = {
    "opening_statement": "",
    "suggested_questions": [],
    "suggested_questions_after_answer": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False, "voice": "", "language": ""},
    "retriever_resource": {"enabled": False},
    "annotation_reply": {"enabled": False},
    "more_like_this": {"enabled": False},
    "user_input_form": [],
    "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
    "file_upload": {
        "enabled": False,
        "image": {"enabled": False, "number_limits": 3, "detail": "high",
                  "transfer_methods": ["remote_url", "local_file"]},
        "allowed_file_types": [],
        "allowed_file_extensions": [],
        "allowed_file_upload_methods": [],
        "number_limits": 0,
    },
    "system_parameters": {
        "image_file_size_limit": 10,
        "video_file_size_limit": 100,
        "audio_file_size_limit": 50,
        "file_size_limit": 15,
        "workflow_file_upload_limit": 10,
    },
}

STRING_INPUT_TYPES = ("text-input", "paragraph", "select")


@dataclass
class EmulatedApp:
    mode: str
    name: str
    parameters: dict[str, Any]
    replies: list[dict[str, Any]]
    cursor: int = 0

    def next_reply(self) -> dict[str, Any]:
        """Replies are used in order; the last one repeats."""
        reply = self.replies[min(self.cursor, len(self.replies) - 1)]
        self.cursor += 1
        return reply

    def form(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, variable, config) of each declared input variable."""
        declared = []
        for item in self.parameters.get("user_input_form") or []:
            for kind, config in item.items():
                if isinstance(config, Mapping) and config.get("variable"):
                    declared.append((kind, config["variable"], dict(config)))
        return declared


def build_apps(scenario: Mapping[str, Any]) -> tuple[dict[str, EmulatedApp], EmulatedApp]:
    """(`apps` by id, the scenario's main `app`)."""
    apps = {
        app_id: _app(app_id, spec, spec.get("replies", [{"echo": True}]))
        for app_id, spec in (scenario.get("apps") or {}).items()
    }
    main = scenario["app"]
    return apps, _app(main.get("id") or "app", main, scenario["replies"])


def main_app_ids(scenario: Mapping[str, Any], settings: Mapping[str, Any]) -> frozenset[str]:
    """The ids the main `app` answers to: its own `id` if given, and whatever an app-selector selects."""
    return frozenset(filter(None, [scenario["app"].get("id"), *selected_app_ids(settings)]))


def _app(app_id: str, spec: Mapping[str, Any], replies: list[dict[str, Any]]) -> EmulatedApp:
    return EmulatedApp(
        mode=spec.get("mode", "chat"),
        name=spec.get("name", app_id),
        parameters=deep_merge(DEFAULT_PARAMETERS, spec.get("parameters") or {}),
        replies=copy.deepcopy(list(replies)),
    )


class AppEmulator:
    def __init__(self, conversations: ConversationStore) -> None:
        self.conversations = conversations
        self._lock = threading.Lock()
        self._apps: dict[str, EmulatedApp] = {}
        self._main: EmulatedApp | None = None
        self._main_ids: frozenset[str] = frozenset()

    def load(self, scenario: Mapping[str, Any]) -> None:
        """Serve the apps of `scenario` from now on (fresh reply cursors)."""
        apps, main = build_apps(scenario)
        with self._lock:
            self._apps, self._main = apps, main
            self._main_ids = main_app_ids(scenario, scenario["settings"])

    def select(self, main_ids: frozenset[str]) -> None:
        """Let the main app answer to these ids (the settings' app-selector changed)."""
        with self._lock:
            self._main_ids = main_ids

    def _find(self, app_id: Any, failure_prefix: str) -> EmulatedApp:
        app = None
        if isinstance(app_id, str):
            with self._lock:
                app = self._apps.get(app_id) or (self._main if app_id in self._main_ids else None)
        if app is None:
            raise app_failure(invalid_param("app not found"), failure_prefix)
        return app

    def fetch_app(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Dify wraps the app's parameters in `data`."""
        app = self._find(request.get("app_id"), FETCH_APP_FAILED)
        return [{"data": copy.deepcopy(app.parameters)}]

    def invoke(self, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        app_id = request.get("app_id")
        app = self._find(app_id, INVOKE_APP_FAILED)
        blocking = request.get("response_mode") == "blocking"
        query = request.get("query")
        raw_inputs = request.get("inputs") or {}
        conversation_id: str | None = None
        if app.mode in CHAT_MODES:
            if not query:
                raise app_failure(invalid_param("missing query"))
            if app.mode == "agent-chat" and blocking:
                raise app_failure(invalid_param("Agent Chat App does not support blocking mode"))
            conversation_id, _ = self.conversations.lookup(app_id, request.get("conversation_id"))
        elif app.mode == "completion":
            # CompletionAppGenerator reads args["query"], which this path never sets: a KeyError, Dify's bare 500.
            raise app_failure(INTERNAL_SERVER_ERROR)
        elif app.mode != "workflow":
            raise app_failure(invalid_param("unexpected app type"))
        # Every turn's inputs are validated and used, a continued conversation's too (as Dify does since 2024).
        inputs = validate_inputs(app, raw_inputs)
        with self._lock:
            reply = app.next_reply()
        if "fail" in reply:
            raise BackwardsError(str(reply["fail"]))

        run = Run(mode=app.mode)
        scripted = reply.get("events")
        if app.mode in CHAT_MODES:
            if conversation_id is None and scripted:
                # Scripted events may name their conversation: later turns may continue it.
                conversation_id = next((e["conversation_id"] for e in scripted if e.get("conversation_id")), None)
            run.conversation_id = self.conversations.add_turn(app_id, conversation_id, query)
        if scripted is None:
            answer = query if app.mode in CHAT_MODES else "\n".join(v for v in inputs.values() if isinstance(v, str))
            events = echo_events(run, answer, query or answer, inputs)
        else:
            events = copy.deepcopy(list(scripted))
        delay = float(reply.get("delay_ms", 0)) / 1000
        if blocking:
            yield self._blocking(run, reply, events, delay)
            return
        for event in events:
            time.sleep(delay)
            yield event
        if "then_fail" in reply:
            raise BackwardsError(str(reply["then_fail"]))

    @staticmethod
    def _blocking(run: Run, reply: Mapping[str, Any], events: list[dict[str, Any]], delay: float) -> dict[str, Any]:
        # Blocking sends nothing until the run is over.
        time.sleep(delay * len(events))
        if "then_fail" in reply:
            raise BackwardsError(str(reply["then_fail"]))
        if "blocking" in reply:
            return copy.deepcopy(reply["blocking"])
        try:
            return fold_blocking(run, events)
        except BlockingFailure as e:
            # The run's exception reaches Dify's error handler: a ValueError (InvokeError, "Run failed") is an
            # invalid_param with the message, anything else the bare 500.
            body = INTERNAL_SERVER_ERROR if e.event.get("status") == 500 else invalid_param(str(e))
            raise app_failure(body) from None


def validate_inputs(app: EmulatedApp, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Dify's `_prepare_user_inputs`: declared variables only, each validated; no form keeps everything.

    Keeping undeclared inputs when nothing is declared is an emulator convenience (Dify would drop them):
    it lets `{"app": {"mode": "workflow"}}` echo whatever inputs it gets.
    """
    declared = app.form()
    if not declared:
        return dict(inputs)
    return {variable: _validated(kind, variable, config, inputs.get(variable)) for kind, variable, config in declared}


def _validated(kind: str, variable: str, config: Mapping[str, Any], value: Any) -> Any:
    if value is None or value == "":
        if config.get("required"):
            raise app_failure(invalid_param(f"{variable} is required in input form"))
        return config.get("default")
    if kind in STRING_INPUT_TYPES:
        if not isinstance(value, str):
            raise app_failure(invalid_param(f"{variable} in input form must be a string"))
        value = value.replace("\x00", "")
        max_length = config.get("max_length")
        if kind != "select" and max_length and len(value) > max_length:
            raise app_failure(invalid_param(f"{variable} in input form must be less than {max_length} characters"))
        options = config.get("options") or []
        if kind == "select" and value not in options:
            raise app_failure(invalid_param(f"{variable} in input form must be one of the following: {options}"))
    elif kind == "number" and not _is_number(value):
        raise app_failure(invalid_param(f"{variable} in input form must be a valid number"))
    return value


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
