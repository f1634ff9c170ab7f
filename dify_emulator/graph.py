"""Chatflow (advanced-chat) and workflow apps: a short chain of nodes, run as Dify 1.14's graph engine runs it.

A scenario describes the graph as a list of nodes, each fed by the one before it (see scenario.py for the node
types). What matters for fidelity is where the answer's pieces land among the node events; Dify's response
coordinator decides it, and this module follows its rules:
- An answer (chatflow) or end (workflow) node has a template: text pieces and `{{#node.var#}}` variables. Its
  session opens when the first edge on its path is taken, that is when the start node succeeds, unless a node
  on the way writes a variable the template reads (an assigner): then when that node succeeds.
- An open session streams its pieces in order: text at once, a variable as soon as it has a value (None gives
  ""), an LLM node's `text` delta by delta while the node runs. A variable that never gets a value (a file
  attribute of a missing file, the output of a failed node) stops the stream there.
- Pieces released by a node's success come before that node's node_finished.
- A chatflow ends with message_end then workflow_finished; a failed node ends it with workflow_finished
  (failed) then an `error` event "Run failed: ..."; a failed workflow sends no error event.
"""

import json
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import llm
from .app_events import Run
from .conversations import Turn
from .inputs import DifyFile, dump_value, files_in

NODE_TYPES = ("start", "assigner", "template-transform", "llm", "answer", "end")
RESPONSE_NODE_TYPES = frozenset({"answer", "end"})
# Dify's VARIABLE_PATTERN: {{#node.var#}}, {{#sys.query#}}, {{#start.file.name#}}.
VARIABLE = re.compile(r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}")
JINJA_VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
ASSIGNER_OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "over-write": lambda current, value: value,
    "set": lambda current, value: value,
    "clear": lambda current, value: type(current)() if current is not None else None,
    "+=": lambda current, value: current + value,
    "-=": lambda current, value: current - value,
    "*=": lambda current, value: current * value,
    "/=": lambda current, value: current / value,
}
VALUE_TYPES = ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"), (dict, "object"),
               (list, "array[any]"))
END_USER = "DEFAULT-USER"  # the session id of the end user every endpoint-driven run belongs to (Dify <= 1.14)


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    title: str
    spec: Mapping[str, Any]


def default_graph(mode: str) -> list[dict[str, Any]]:
    """The echo app of each mode: start, an LLM with the echo model, then the answer (or the workflow's end)."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "start", "title": "Start"},
                                   {"id": "llm", "type": "llm", "title": "LLM"}]
    if mode == "workflow":
        return [*nodes, {"id": "end", "type": "end", "title": "End", "outputs": {"answer": ["llm", "text"]}}]
    return [*nodes, {"id": "answer", "type": "answer", "title": "Answer", "answer": "{{#llm.text#}}"}]


def build_graph(specs: Sequence[Mapping[str, Any]]) -> tuple[Node, ...]:
    return tuple(Node(str(spec["id"]), str(spec["type"]), str(spec.get("title") or spec["id"]), dict(spec))
                 for spec in specs)


@dataclass
class GraphCall:
    """What a graph run needs to know besides its nodes."""

    run: Run
    app_id: str
    query: str | None  # None in a workflow (no sys.query)
    inputs: Mapping[str, Any]
    history: Sequence[Turn]
    variables: dict[str, Any]  # conversation variables: assigners change them in place
    dialogue_count: int
    end_user_id: str
    user: str = END_USER  # the end user's session id: sys.user_id
    files: Sequence[DifyFile] = ()  # the request's files: sys.files


@dataclass(frozen=True)
class Segment:
    text: str = ""
    selector: tuple[str, ...] = ()  # empty for a text piece


def parse_template(template: str) -> list[Segment]:
    parts = VARIABLE.split(template)
    return [Segment(selector=tuple(part.split("."))) if i % 2 else Segment(text=part)
            for i, part in enumerate(parts) if part]


def response_template(node: Node) -> list[Segment]:
    if node.type == "answer":
        return parse_template(str(node.spec.get("answer", "")))
    segments: list[Segment] = []
    for i, selector in enumerate(node.spec.get("outputs", {}).values()):
        if i:
            segments.append(Segment(text="\n"))  # End nodes stream their outputs one per line
        segments.append(Segment(selector=tuple(selector)))
    return segments


def value_text(value: Any) -> str:
    """A value as a stream piece or a rendered template shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, DifyFile):
        return value.markdown
    return json.dumps(dump_value(value), ensure_ascii=False)


class VariablePool:
    def __init__(self, system: Mapping[str, Any], conversation: dict[str, Any]) -> None:
        self.system = dict(system)
        self.conversation = conversation
        self.nodes: dict[str, dict[str, Any]] = {}

    def get(self, selector: Sequence[str]) -> tuple[bool, Any]:
        """(found, value); a value may be None and still be found."""
        scope, name, *attributes = selector
        values = {"sys": self.system, "conversation": self.conversation}.get(scope, self.nodes.get(scope, {}))
        if name not in values:
            return False, None
        value = values[name]
        for attribute in attributes:
            if not isinstance(value, DifyFile):
                return False, None
            found, value = value.attribute(attribute)
            if not found:
                return False, None
        return True, value

    def render(self, template: str) -> str:
        """`convert_template`: a variable without a value is left as its dotted name, as Dify leaves it."""
        def substitute(match: re.Match[str]) -> str:
            found, value = self.get(match.group(1).split("."))
            return value_text(value) if found else match.group(1)

        return VARIABLE.sub(substitute, template)


@dataclass
class _Session:
    node: Node
    segments: list[Segment]
    index: int = 0


class _Coordinator:
    """Dify's ResponseStreamCoordinator for a chain: which answer pieces go out, and when."""

    def __init__(self, graph: Sequence[Node], pool: VariablePool, emit: Callable[[tuple[str, ...], str], dict]):
        self._pool = pool
        self._emit = emit
        self._streamed = {node.id for node in graph if node.type == "llm"}
        self._pending: dict[str, list[_Session]] = {}  # node id -> sessions that open when it succeeds
        for position, node in enumerate(graph):
            if node.type in RESPONSE_NODE_TYPES:
                segments = response_template(node)
                opener = _opening_node(graph[:position], segments)
                self._pending.setdefault(opener, []).append(_Session(node, segments))
        self._active: _Session | None = None
        self._waiting: deque[_Session] = deque()
        self._streams: dict[tuple[str, ...], list[str]] = {}
        self._read: dict[tuple[str, ...], int] = {}
        self._closed: set[tuple[str, ...]] = set()

    def node_succeeded(self, node_id: str) -> list[dict[str, Any]]:
        self._waiting.extend(self._pending.pop(node_id, []))
        return self._flush()

    def chunk(self, selector: tuple[str, ...], text: str, final: bool = False) -> list[dict[str, Any]]:
        self._streams.setdefault(selector, []).append(text)
        if final:
            self._closed.add(selector)
        return self._flush()

    def _flush(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            if self._active is None:
                if not self._waiting:
                    return events
                self._active = self._waiting.popleft()
            session = self._active
            while session.index < len(session.segments):
                segment = session.segments[session.index]
                if not segment.selector:
                    events.append(self._emit((session.node.id, "answer"), segment.text))
                elif not self._variable(segment.selector, events):
                    return events
                session.index += 1
            self._active = None

    def _variable(self, selector: tuple[str, ...], events: list[dict[str, Any]]) -> bool:
        """Send what is available of one variable piece; True once it is complete."""
        if selector[0] in self._streamed:
            stream = self._streams.get(selector, [])
            start = self._read.get(selector, 0)
            events.extend(self._emit(selector, text) for text in stream[start:])
            self._read[selector] = len(stream)
            if selector in self._closed:
                return True
        found, value = self._pool.get(selector)
        if found:
            events.append(self._emit(selector, value_text(value)))
        return found


def _opening_node(before: Sequence[Node], segments: Sequence[Segment]) -> str:
    """The node whose success opens a response session: the last one on the way that writes a variable the
    template reads (Dify's blocking edges), else the start node."""
    read = {segment.selector[:2] for segment in segments if segment.selector}
    writers = [node.id for node in before
               if node.type == "assigner" and any(tuple(item["variable_selector"][:2]) in read
                                                  for item in node.spec.get("items", []))]
    return writers[-1] if writers else before[0].id


@dataclass
class _Result:
    status: str = "succeeded"
    inputs: Mapping[str, Any] = field(default_factory=dict)
    process_data: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    execution_metadata: Mapping[str, Any] | None = None
    usage: Mapping[str, Any] | None = None


def run_graph(graph: Sequence[Node], call: GraphCall) -> list[dict[str, Any]]:
    """The events of one run of `graph`."""
    return list(_GraphRun(graph, call).events())


class _GraphRun:
    def __init__(self, graph: Sequence[Node], call: GraphCall) -> None:
        self.graph = graph
        self.call = call
        self.run = call.run
        self.chatflow = call.run.mode == "advanced-chat"
        self.pool = VariablePool(self._system_variables(), call.variables)
        if self.chatflow:
            self.pool.system["conversation_id"] = self.run.conversation_id  # readable, though not in the inputs
        self.coordinator = _Coordinator(graph, self.pool, self._piece)
        self.pieces: list[dict[str, Any]] = []  # what the coordinator released while the current node ran
        self.started = time.perf_counter()

    def _system_variables(self) -> dict[str, Any]:
        """The sys.* variables, in the order workflow_started shows them (a workflow has no query or count)."""
        system = {"query": self.call.query, "files": list(self.call.files), "user_id": self.call.user,
                  "dialogue_count": self.call.dialogue_count, "app_id": self.call.app_id,
                  "workflow_id": self.run.workflow_id, "workflow_run_id": self.run.workflow_run_id}
        if not self.chatflow:
            del system["query"], system["dialogue_count"]
        return system

    def _piece(self, selector: tuple[str, ...], text: str) -> dict[str, Any]:
        if self.chatflow:
            return self.run.event("message", id=self.run.message_id, answer=text, from_variable_selector=list(selector))
        return self.run.event("text_chunk", data={"text": text, "from_variable_selector": list(selector)})

    def events(self) -> Iterator[dict[str, Any]]:
        shown = {f"sys.{name}": value for name, value in self.pool.system.items() if name != "conversation_id"}
        yield self.run.workflow_event("workflow_started", {
            "id": self.run.workflow_run_id, "workflow_id": self.run.workflow_id,
            "inputs": dump_value({**self.call.inputs, **shown}), "created_at": self.run.created_at,
            "reason": "initial"})
        usages: list[Mapping[str, Any]] = []
        failure: str | None = None
        steps = 0
        for node in self.graph:
            steps += 1
            result = yield from self._node_events(node)
            if result.usage:
                usages.append(result.usage)
            if result.status != "succeeded":
                failure = result.error or ""
                break
        usage = llm.sum_usage(usages)
        outputs = {} if failure is not None else self._outputs()
        if self.chatflow and failure is None:
            # A chatflow times its answer: message_end has numbers here where chat apps send nulls.
            yield self.run.message_end({**usage, "time_to_first_token": 0.0, "time_to_generate": 0.0}, [])
        yield self.run.workflow_event("workflow_finished", {
            "id": self.run.workflow_run_id, "workflow_id": self.run.workflow_id,
            "status": "failed" if failure is not None else "succeeded", "outputs": dump_value(outputs),
            "error": failure, "elapsed_time": time.perf_counter() - self.started,
            "total_tokens": usage["total_tokens"], "total_steps": steps,
            "created_by": {"id": self.call.end_user_id, "user": self.call.user}, "created_at": self.run.created_at,
            "finished_at": int(time.time()), "exceptions_count": int(failure is not None),
            "files": files_in(outputs)})
        if self.chatflow and failure is not None:
            yield self.run.error("invalid_param", 400, f"Run failed: {failure}")

    def _node_events(self, node: Node) -> Generator[dict[str, Any], None, "_Result"]:
        """node_started, the pieces the node releases, node_finished; returns what the node did."""
        base = {"id": str(uuid.uuid4()), "node_id": node.id, "node_type": node.type, "title": node.title, "index": 1,
                "predecessor_node_id": None}
        created_at, started = int(time.time()), time.perf_counter()
        yield self.run.workflow_event("node_started", {
            **base, "inputs": None, "inputs_truncated": False, "created_at": created_at, "extras": {},
            "iteration_id": None, "loop_id": None, "agent_strategy": None})
        runner = {"start": self._start, "assigner": self._assigner, "template-transform": self._template_transform,
                  "llm": self._llm, "answer": self._answer, "end": self._end}[node.type]
        result = runner(node)
        yield from self.pieces
        self.pieces = []
        if result.status == "succeeded":
            self.pool.nodes[node.id] = dict(result.outputs)
            yield from self.coordinator.node_succeeded(node.id)
        yield self.run.workflow_event("node_finished", {
            **base, "inputs": dump_value(result.inputs), "inputs_truncated": False,
            "process_data": dump_value(result.process_data), "process_data_truncated": False,
            "outputs": dump_value(result.outputs), "outputs_truncated": False, "status": result.status,
            "error": result.error, "elapsed_time": time.perf_counter() - started,
            "execution_metadata": result.execution_metadata, "created_at": created_at,
            "finished_at": int(time.time()), "files": files_in(result.outputs), "iteration_id": None,
            "loop_id": None})
        return result

    def _outputs(self) -> dict[str, Any]:
        """A chatflow's outputs are its answer; a workflow's, its end node's outputs."""
        ends = [self.pool.nodes.get(node.id, {}) for node in self.graph if node.type in RESPONSE_NODE_TYPES]
        if self.chatflow:
            return {"answer": "".join(str(end.get("answer", "")) for end in ends), "files": []}
        return dict(ends[-1]) if ends else {}

    def _start(self, node: Node) -> _Result:
        return _Result(inputs=self.call.inputs, outputs=self.call.inputs)

    def _assigner(self, node: Node) -> _Result:
        items = [{"variable_selector": list(item["variable_selector"]), "input_type": "constant",
                  "operation": item["operation"], "value": item.get("value")} for item in node.spec["items"]]
        updated: dict[str, Any] = {}
        changes = []
        for item in items:
            name = item["variable_selector"][1]
            new_value = ASSIGNER_OPERATIONS[item["operation"]](self.call.variables.get(name), item["value"])
            self.call.variables[name] = updated[name] = new_value
            changes.append({"name": name, "selector": item["variable_selector"], "value_type": _value_type(new_value),
                            "new_value": new_value})
        # Dify shows the node's own configuration as its inputs.
        config = {"type": "assigner", "title": node.title, "desc": "", "version": "2", "error_strategy": None,
                  "default_value": None, "retry_config": {"max_retries": 0, "retry_interval": 0,
                                                          "retry_enabled": False}, "items": items}
        return _Result(inputs=config, process_data={**updated, "__updated_variables": changes})

    def _template_transform(self, node: Node) -> _Result:
        variables = {name: self.pool.get(selector)[1] for name, selector in node.spec.get("variables", {}).items()}
        if node.spec.get("error"):
            return _Result(status="failed", inputs=variables, error=str(node.spec["error"]))
        output = JINJA_VARIABLE.sub(lambda m: value_text(variables.get(m.group(1))), str(node.spec.get("template", "")))
        return _Result(inputs=variables, outputs={"output": output})

    def _llm(self, node: Node) -> _Result:
        model = llm.Model.from_spec(node.spec.get("model"))
        model_inputs = {"model_provider": model.provider, "model_name": model.name}
        messages = self._prompt(node)
        try:
            reply = llm.invoke(model, messages)
        except llm.ModelError as e:
            return _Result(status="failed", inputs=model_inputs, error=str(e))
        selector = (node.id, "text")
        for chunk in reply.chunks:
            self.pieces += self.coordinator.chunk(selector, chunk.text)
        self.pieces += self.coordinator.chunk(selector, "", final=True)  # the node's closing chunk
        text, reasoning = reply.text, ""
        if node.spec.get("reasoning_format") == "separated":
            text, reasoning = _separate_reasoning(text)
        usage = {**reply.usage, "time_to_first_token": 0.0, "time_to_generate": 0.0}
        process_data = {"model_mode": "chat",
                        "prompts": [{"role": m.role, "text": m.content, "files": []} for m in messages],
                        "usage": usage, "finish_reason": "stop", **model_inputs}
        metadata = {"total_tokens": usage["total_tokens"], "total_price": usage["total_price"],
                    "currency": usage["currency"]}
        return _Result(inputs=model_inputs, process_data=process_data, execution_metadata=metadata, usage=usage,
                       outputs={"text": text, "reasoning_content": reasoning, "usage": usage, "finish_reason": "stop"})

    def _prompt(self, node: Node) -> list[llm.Message]:
        messages = [llm.Message("system", str(node.spec["system"]))] if node.spec.get("system") else []
        if node.spec.get("memory"):
            for turn in self.call.history:
                messages += [llm.Message("user", turn.query), llm.Message("assistant", turn.answer)]
        if "prompt" in node.spec:
            user = self.pool.render(str(node.spec["prompt"]))
        elif self.chatflow:
            user = str(self.call.query)
        else:  # the workflow echo: every string input, one per line
            user = "\n".join(value for value in self.call.inputs.values() if isinstance(value, str))
        return [*messages, llm.Message("user", user)]

    def _answer(self, node: Node) -> _Result:
        return _Result(outputs={"answer": self.pool.render(str(node.spec.get("answer", ""))), "files": []})

    def _end(self, node: Node) -> _Result:
        outputs = {name: self.pool.get(selector)[1] for name, selector in node.spec.get("outputs", {}).items()}
        return _Result(inputs=outputs, outputs=outputs)


def _separate_reasoning(text: str) -> tuple[str, str]:
    """reasoning_format `separated`: the node's own outputs lose the <think> block (the stream keeps it)."""
    reasoning = " ".join(match.strip() for match in THINK.findall(text))
    return THINK.sub("", text).strip(), reasoning


def _value_type(value: Any) -> str:
    return next((name for kind, name in VALUE_TYPES if isinstance(value, kind)), "any")
