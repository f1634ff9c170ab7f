"""The emulated Dify apps: `app` and `fetch_app` backwards invocations.

Checks run in Dify's order (`PluginAppBackwardsInvocation.invoke_app` and the app generators): app lookup,
the app's mode (a completion app fails with a 500, a mode the plugin path does not know with 400 "unexpected
app type"), missing query, agent-chat blocking, conversation lookup, then the inputs, validated on every turn.
Only an invocation that gets past them consumes a scripted reply. An `echo` reply runs the app as its
scenario describes it: a graph for chatflows and workflows (graph.py), a model for chat and agent apps
(model_apps.py).
"""

import copy
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import llm
from .app_events import BlockingFailure, Run, answer_of, fold_blocking
from .conversations import Conversation, ConversationStore, Turn
from .errors import (
    FETCH_APP_FAILED,
    INTERNAL_SERVER_ERROR,
    INVOKE_APP_FAILED,
    BackwardsError,
    app_failure,
    invalid_param,
)
from .graph import END_USER, GraphCall, Node, build_graph, default_graph, run_graph
from .inputs import DifyFile, ToolFiles, validate_inputs
from .model_apps import TOOLS, BuiltinTool, ModelCall, Outcome, run_agent, run_chat
from .scenario import CHAT_MODES, GRAPH_MODES, deep_merge, selected_app_ids

# What Dify 1.14.1 answered for a chatflow without features (tests/golden/recordings/fetch_app.a_echo.json).
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
    "sensitive_word_avoidance": {"enabled": False},
    "file_upload": {"enabled": False},
    "system_parameters": {
        "image_file_size_limit": 10,
        "video_file_size_limit": 100,
        "audio_file_size_limit": 50,
        "file_size_limit": 15,
        "workflow_file_upload_limit": 10,
    },
}
# A text generator keeps the app model config's older shape (fetch_app.e_completion.json: a new one).
COMPLETION_PARAMETERS: dict[str, Any] = {
    **DEFAULT_PARAMETERS,
    "opening_statement": None,
    "text_to_speech": {"enabled": False},
    "retriever_resource": {"enabled": True},
    "user_input_form": [{"paragraph": {"label": "Query", "variable": "query", "required": True, "default": ""}}],
    "sensitive_word_avoidance": {"enabled": False, "type": "", "config": {}},
    "file_upload": {"image": {"enabled": False, "number_limits": 3, "detail": "high",
                              "transfer_methods": ["remote_url", "local_file"]}},
}


@dataclass
class EmulatedApp:
    mode: str
    name: str
    parameters: dict[str, Any]
    replies: list[dict[str, Any]]
    graph: tuple[Node, ...] = ()
    conversation_variables: dict[str, Any] = field(default_factory=dict)
    model: llm.Model = field(default_factory=lambda: llm.Model.from_spec(None))
    pre_prompt: str = ""
    strategy: str = "function_call"
    tools: tuple[BuiltinTool, ...] = ()
    knowledge: tuple[dict[str, Any], ...] = ()
    workflow_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # one published workflow per app
    cursor: int = 0

    def next_reply(self) -> dict[str, Any]:
        """Replies are used in order; the last one repeats."""
        reply = self.replies[min(self.cursor, len(self.replies) - 1)]
        self.cursor += 1
        return reply


def build_apps(scenario: Mapping[str, Any]) -> tuple[dict[str, EmulatedApp], EmulatedApp]:
    """(`apps` by id, the scenario's main `app`)."""
    apps = {app_id: _app(spec, spec.get("replies", [{"echo": True}]))
            for app_id, spec in (scenario.get("apps") or {}).items()}
    return apps, _app(scenario["app"], scenario["replies"])


def main_app_ids(scenario: Mapping[str, Any], settings: Mapping[str, Any]) -> frozenset[str]:
    """The ids the main `app` answers to: its own `id` if given, and whatever an app-selector selects."""
    return frozenset(filter(None, [scenario["app"].get("id"), *selected_app_ids(settings)]))


def _app(spec: Mapping[str, Any], replies: list[dict[str, Any]]) -> EmulatedApp:
    mode = spec.get("mode", "chat")
    agent = spec.get("agent") or {}
    defaults = COMPLETION_PARAMETERS if mode == "completion" else DEFAULT_PARAMETERS
    return EmulatedApp(
        mode=mode,
        name=spec.get("name", "app"),
        parameters=deep_merge(defaults, spec.get("parameters") or {}),
        replies=copy.deepcopy(list(replies)),
        graph=build_graph(spec.get("graph") or default_graph(mode)) if mode in GRAPH_MODES else (),
        conversation_variables=copy.deepcopy(dict(spec.get("conversation_variables") or {})),
        model=llm.Model.from_spec(spec.get("model")),
        pre_prompt=str(spec.get("pre_prompt", "")),
        strategy=agent.get("strategy", "function_call"),
        tools=tuple(TOOLS[name] for name in agent.get("tools", [])),
        knowledge=tuple(_knowledge_document(index, spec) for index, spec in enumerate(spec.get("knowledge") or ())),
    )


def _knowledge_document(index: int, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A passage of the app's knowledge base, as a retriever resource (Dify's RetrievalSourceMetadata)."""
    dataset = str(spec.get("dataset_name", "Knowledge"))
    name = str(spec.get("document_name", f"document-{index + 1}.md"))
    return {
        "position": index + 1,
        "dataset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataset:{dataset}")),
        "dataset_name": dataset,
        "document_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"document:{dataset}/{name}")),
        "document_name": name,
        "data_source_type": "upload_file",
        "segment_id": str(uuid.uuid4()),
        "retriever_from": "api",
        "score": spec.get("score", 0.9),
        "hit_count": None, "word_count": None, "segment_position": None, "index_node_hash": None,
        "content": str(spec.get("content", "")),
        "page": None,
        "doc_metadata": spec.get("doc_metadata"),
        "title": None,
    }


@dataclass(frozen=True)
class EndUser:
    """Who a run belongs to: Dify's end user (`id`) and the caller's name for it (`session_id`, sys.user_id).

    An empty id stands for the workspace's one end user of the plugin path (AppEmulator.end_user_id).
    """

    id: str
    session_id: str


PLUGIN_USER = EndUser("", END_USER)


@dataclass(frozen=True)
class AppCall:
    """One app run that passed its caller's checks (each path checks in its own order, with its own errors)."""

    app_id: str
    app: EmulatedApp
    query: str
    inputs: dict[str, Any]
    conversation: Conversation | None  # None: a chat-type app starts a new one, owned by `user`
    user: EndUser
    files: tuple[DifyFile, ...] = ()  # the request's own files (sys.files)


@dataclass
class Execution:
    run: Run
    reply: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def delay(self) -> float:
        """Seconds before each event (the reply's delay_ms)."""
        return float(self.reply.get("delay_ms", 0)) / 1000


class AppEmulator:
    def __init__(self, conversations: ConversationStore, files: ToolFiles) -> None:
        self.conversations = conversations
        self.files = files
        # The workspace's one end user (DEFAULT-USER) that every endpoint-driven run belongs to.
        self.end_user_id = str(uuid.uuid4())
        self._lock = threading.Lock()
        self._apps: dict[str, EmulatedApp] = {}
        self._main: EmulatedApp | None = None
        self._main_ids: frozenset[str] = frozenset()
        self._reachable: tuple[str, ...] = ()

    def load(self, scenario: Mapping[str, Any]) -> None:
        """Serve the apps of `scenario` from now on (fresh reply cursors)."""
        apps, main = build_apps(scenario)
        with self._lock:
            self._apps, self._main = apps, main
            self._reachable = tuple(str(url) for url in scenario.get("reachable_urls") or ())
            self._main_ids = main_app_ids(scenario, scenario["settings"])

    def select(self, main_ids: frozenset[str]) -> None:
        """Let the main app answer to these ids (the settings' app-selector changed)."""
        with self._lock:
            self._main_ids = main_ids

    def _find(self, app_id: Any, failure_prefix: str) -> EmulatedApp:
        app = self.find(app_id) if isinstance(app_id, str) else None
        if app is None:
            raise app_failure(invalid_param("app not found"), failure_prefix)
        return app

    def fetch_app(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The app's parameters themselves: the daemon strips both of Dify's `data` wrappers."""
        app = self._find(request.get("app_id"), FETCH_APP_FAILED)
        return [copy.deepcopy(app.parameters)]

    def find(self, app_id: str) -> EmulatedApp | None:
        """The app answering to `app_id`, if any."""
        with self._lock:
            return self._apps.get(app_id) or (self._main if app_id in self._main_ids else None)

    def invoke(self, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        app_id = str(request.get("app_id"))
        app = self._find(request.get("app_id"), INVOKE_APP_FAILED)
        blocking = request.get("response_mode") == "blocking"
        query = request.get("query")
        conversation: Conversation | None = None
        if app.mode in CHAT_MODES:
            if not query:
                raise app_failure(invalid_param("missing query"))
            if app.mode == "agent-chat" and blocking:
                raise app_failure(invalid_param("Agent Chat App does not support blocking mode"))
            conversation = self.conversations.lookup(app_id, request.get("conversation_id"))
        elif app.mode == "completion":
            # CompletionAppGenerator reads args["query"], which this path never sets: a KeyError, Dify's bare 500.
            raise app_failure(INTERNAL_SERVER_ERROR)
        elif app.mode != "workflow":
            raise app_failure(invalid_param("unexpected app type"))
        inputs = validate_inputs(app.parameters, request.get("inputs") or {}, self.files, self._reachable)
        execution = self.execute(AppCall(app_id, app, str(query or ""), inputs, conversation, PLUGIN_USER))
        reply = execution.reply
        if "fail" in reply:
            raise BackwardsError(str(reply["fail"]))
        if blocking:
            yield self._blocking(execution.run, reply, execution.events, execution.delay)
            return
        for event in execution.events:
            time.sleep(execution.delay)
            yield event
        if "then_fail" in reply:
            raise BackwardsError(str(reply["then_fail"]))

    @property
    def reachable_urls(self) -> tuple[str, ...]:
        """URL prefixes a remote file may have (the scenario's `reachable_urls`)."""
        return self._reachable

    def execute(self, call: AppCall) -> Execution:
        """Run an app that passed its caller's checks: consume a reply, compute its events, keep the turn.

        A `fail` reply computes nothing: the caller fails the request with its text.
        """
        app = call.app
        with self._lock:
            reply = app.next_reply()
        run = Run(mode=app.mode, workflow_id=app.workflow_id)
        if "fail" in reply:
            return Execution(run, reply, [])
        if app.mode in CHAT_MODES and (app.parameters.get("retriever_resource") or {}).get("enabled"):
            run.retriever_resources = copy.deepcopy(list(app.knowledge))
        scripted = reply.get("events")
        conversation = call.conversation
        if app.mode in CHAT_MODES and conversation is None:
            # Scripted events may name their conversation: later turns may continue it.
            named = next((e["conversation_id"] for e in scripted or () if e.get("conversation_id")), None)
            conversation = self.conversations.open(call.app_id, named, app.conversation_variables, call.user.id)
        run.conversation_id = conversation.id if conversation else None
        history = self.conversations.history(conversation)
        variables = copy.deepcopy(conversation.variables) if conversation else {}
        if scripted is None:
            outcome = self._emulate(call, run, history, variables)
        else:
            events = copy.deepcopy(list(scripted))
            outcome = Outcome(events, answer_of(events))
        if conversation is not None:
            self.conversations.add_turn(conversation, Turn(call.query, outcome.answer, outcome.tool_steps), variables)
        return Execution(run, reply, outcome.events)

    def _emulate(self, call: AppCall, run: Run, history: list[Turn], variables: dict[str, Any]) -> Outcome:
        """The app's own run: its graph, or its model (and agent loop)."""
        app = call.app
        if app.mode in GRAPH_MODES:
            chatflow = app.mode == "advanced-chat"
            events = run_graph(app.graph, GraphCall(
                run=run, app_id=call.app_id, query=call.query if chatflow else None, inputs=call.inputs,
                history=history, variables=variables, dialogue_count=len(history) + 1,
                end_user_id=call.user.id or self.end_user_id, user=call.user.session_id, files=call.files))
            return Outcome(events, answer_of(events))
        if app.mode == "completion":
            # A text generator answers its inputs (the echo contract: their string values, one per line).
            prompt = "\n".join(str(value) for value in call.inputs.values() if isinstance(value, str))
            return run_chat(ModelCall(run=run, model=app.model, instruction=app.pre_prompt, query=prompt, history=[]))
        model_call = ModelCall(run=run, model=app.model, instruction=app.pre_prompt, query=call.query, history=history)
        return run_chat(model_call) if app.mode == "chat" else run_agent(model_call, app.strategy, app.tools)

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
