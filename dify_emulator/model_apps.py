"""Chat and agent-chat apps: apps configured with a model (and tools) instead of a graph.

A chat app makes one model call per turn and streams a `message` per model chunk. An agent-chat app runs
Dify's agent loop, as recorded on 1.14.1 (tests/golden/recordings/llm/):
- function calling: a round's thought is announced with its first chunk, every chunk is an `agent_message`
  (tool-call and usage chunks with empty text too), then the thought is re-sent with the tool and its input,
  again with the observation once the tool ran, and the next round starts a new position;
- ReAct: the model's text goes through Dify's ReAct output parser (`ReactParser`): the Thought streams one
  character at a time, the Action JSON is not streamed, a Final Answer is sent as one last chunk; the thought is
  re-sent (and its text appended again, as Dify's save_agent_thought does) around each tool call.
A provider error is a single `error` event (chat and function calling; ReAct has announced its thought first).
"""

import json
import re
import uuid
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import llm
from .app_events import Run
from .conversations import ToolStep, Turn

AGENT_STRATEGIES = ("function_call", "react")
MAX_ITERATIONS = 5
# Dify's ReAct instruction, shortened: the fake model recognises it by $JSON_BLOB.
REACT_INSTRUCTION = (
    "Respond to the human as helpfully and accurately as possible.\n\n{instruction}\n\n"
    "You have access to the following tools:\n\n{tools}\n\n"
    "Use a json blob to specify a tool by providing an action key (tool name) and an action_input key "
    "(tool input).\nValid \"action\" values: \"Final Answer\" or {names}\n\n"
    "Provide only ONE action per $JSON_BLOB.\nFollow this format:\n\nQuestion: input question to answer\n"
    "Thought: consider previous and subsequent steps\nAction:\n```\n$JSON_BLOB\n```\nObservation: action result\n"
    "... (repeat Thought/Action/Observation N times)\nThought: I know what to respond\nAction:\n```\n"
    "{{\"action\": \"Final Answer\", \"action_input\": \"Final response to human\"}}\n```"
)
REACT_CONTINUE = "continue"  # the user turn Dify adds after this turn's scratchpad
THINKING = "I am thinking about how to help you"  # Dify's thought when the model gave none


@dataclass(frozen=True)
class BuiltinTool:
    """One of Dify's builtin tools, configured as an agent app configures it."""

    name: str
    description: str
    labels: Mapping[str, str]
    parameters: Mapping[str, Any]  # the app's configured values, merged into every call
    run: Callable[[Mapping[str, Any]], str]


def _current_time(arguments: Mapping[str, Any]) -> str:
    try:
        zone = zoneinfo.ZoneInfo(str(arguments.get("timezone") or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return datetime.now(zone).strftime(str(arguments.get("format") or "%Y-%m-%d %H:%M:%S"))


TOOLS: dict[str, BuiltinTool] = {
    "current_time": BuiltinTool(
        name="current_time",
        description="A tool for getting the current time.",
        labels={"zh_Hans": "获取当前时间", "en_US": "Current Time", "pt_BR": "Current Time", "ja_JP": "Current Time"},
        parameters={"format": "%Y-%m-%d %H:%M:%S", "timezone": "UTC"},
        run=_current_time,
    ),
}


@dataclass(frozen=True)
class ModelCall:
    """What a chat or agent turn needs: the app's model settings and the conversation so far."""

    run: Run
    model: llm.Model
    instruction: str  # the app's pre-prompt
    query: str
    history: Sequence[Turn]


@dataclass
class Outcome:
    events: list[dict[str, Any]]
    answer: str  # what the conversation keeps as this turn's answer
    tool_steps: tuple[ToolStep, ...] = ()


def run_chat(call: ModelCall) -> Outcome:
    messages = _system(call.instruction)
    for turn in call.history:
        messages += [llm.Message("user", turn.query), llm.Message("assistant", turn.answer)]
    try:
        reply = llm.invoke(call.model, [*messages, llm.Message("user", call.query)])
    except llm.ModelError as e:
        return Outcome([_provider_error(call.run, e)], "")
    events = [call.run.event("message", id=call.run.message_id, answer=chunk.text, from_variable_selector=None)
              for chunk in reply.chunks]
    return Outcome([*events, call.run.message_end(reply.usage, None)], reply.text)


def run_agent(call: ModelCall, strategy: str, tools: Sequence[BuiltinTool]) -> Outcome:
    agent = _Agent(call, tools)
    try:
        answer = agent.react() if strategy == "react" else agent.function_call()
    except llm.ModelError as e:
        return Outcome([*agent.events, _provider_error(call.run, e)], "", tuple(agent.steps))
    agent.events.append(call.run.message_end(llm.sum_usage(agent.usages), None))
    return Outcome(agent.events, answer, tuple(agent.steps))


def _provider_error(run: Run, error: llm.ModelError) -> dict[str, Any]:
    # Dify reports a provider's InvokeError as a completion request error.
    return run.error("completion_request_error", 400, str(error))


def _system(instruction: str) -> list[llm.Message]:
    return [llm.Message("system", instruction)] if instruction else []


@dataclass
class _Thought:
    position: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    thought: str = ""
    tool: str = ""
    tool_input: str = ""
    observation: str = ""


class _Agent:
    def __init__(self, call: ModelCall, tools: Sequence[BuiltinTool]) -> None:
        self.call = call
        self.tools = {tool.name: tool for tool in tools}
        self.events: list[dict[str, Any]] = []
        self.usages: list[dict[str, Any]] = []
        self.steps: list[ToolStep] = []

    def _publish(self, thought: _Thought) -> None:
        labels = {thought.tool: dict(self.tools[thought.tool].labels)} if thought.tool in self.tools else {}
        self.events.append(self.call.run.event(
            "agent_thought", id=thought.id, position=thought.position, thought=thought.thought,
            observation=thought.observation, tool=thought.tool, tool_labels=labels, tool_input=thought.tool_input,
            message_files=[]))

    def _message(self, text: str) -> None:
        self.events.append(self.call.run.event("agent_message", id=self.call.run.message_id, answer=text))

    def _invoke_tool(self, name: str, arguments: dict[str, Any]) -> str:
        tool = self.tools.get(name)
        if tool is None:
            return f"there is not a tool named {name}"
        for key, value in tool.parameters.items():
            # Dify's tool engine fills the app's configured parameters into the very dict it was given.
            arguments.setdefault(key, value)
        return tool.run(arguments)

    def function_call(self) -> str:
        offered = [llm.Tool(tool.name, tool.description) for tool in self.tools.values()]
        current: list[llm.Message] = []
        for iteration in range(1, MAX_ITERATIONS + 2):
            thought = _Thought(iteration)
            messages = [*_system(self.call.instruction), *self._function_call_history(),
                        llm.Message("user", self.call.query), *current]
            reply = llm.invoke(self.call.model, messages, offered if iteration <= MAX_ITERATIONS else ())
            self._publish(thought)  # announced with the round's first chunk
            for chunk in reply.chunks:
                self._message(chunk.text)
            self.usages.append(reply.usage)
            calls = reply.tool_calls
            thought.thought = reply.text
            thought.tool = ";".join(call.name for call in calls)
            inputs = {call.name: json.loads(call.arguments or "{}") for call in calls}
            thought.tool_input = json.dumps(inputs) if calls else ""
            self._publish(thought)
            if not calls:
                return reply.text
            # The tool gets arguments of its own: what was saved stays as the model sent it.
            results = {call.name: self._invoke_tool(call.name, json.loads(call.arguments or "{}")) for call in calls}
            thought.observation = json.dumps(results, ensure_ascii=False)
            self._publish(thought)
            current += [llm.Message("assistant", reply.text, calls),
                        *(llm.Message("tool", results[call.name], name=call.name) for call in calls)]
            self.steps += [ToolStep(reply.text, call.name, inputs[call.name], results[call.name], str(uuid.uuid4()))
                           for call in calls]
        return ""

    def _function_call_history(self) -> list[llm.Message]:
        messages: list[llm.Message] = []
        for turn in self.call.history:
            messages.append(llm.Message("user", turn.query))
            for step in turn.tool_steps:
                call = llm.ToolCall(step.call_id, step.tool, json.dumps(dict(step.tool_input)))
                messages += [llm.Message("assistant", step.thought, (call,)),
                             llm.Message("tool", step.result, name=step.tool)]
            messages.append(llm.Message("assistant", turn.answer))
        return messages

    def react(self) -> str:
        tools = [{"name": tool.name, "description": tool.description,
                  "parameters": {"type": "object", "properties": {}, "required": []}} for tool in self.tools.values()]
        system = REACT_INSTRUCTION.format(instruction=self.call.instruction, tools=json.dumps(tools),
                                          names=", ".join(self.tools))
        scratchpad = ""
        for iteration in range(1, MAX_ITERATIONS + 2):
            thought = _Thought(iteration)
            self._publish(thought)  # a ReAct round is announced before the model has answered
            current = [llm.Message("assistant", scratchpad), llm.Message("user", REACT_CONTINUE)] if scratchpad else []
            messages = [llm.Message("system", system), *self._react_history(), llm.Message("user", self.call.query),
                        *current]
            reply = llm.invoke(self.call.model, messages)
            parser = ReactParser()
            pieces = [piece for chunk in reply.chunks for piece in parser.feed(chunk.text)] + parser.close()
            texts = [piece for piece in pieces if isinstance(piece, str)]
            for text in texts:
                self._message(text)
            self.usages.append(reply.usage)
            action = next((piece for piece in pieces if isinstance(piece, Action)), None)
            thought_text = "".join(texts).strip() or THINKING
            if action is None:
                return self._final("")
            if action.name.lower() == "final answer":
                answer = action.input if isinstance(action.input, str) else json.dumps(action.input)
                return self._final(answer)
            arguments = action.input if isinstance(action.input, dict) else {}
            action_text = json.dumps({"action_name": action.name, "action_input": arguments})
            thought.thought = thought_text
            thought.tool = action.name
            thought.tool_input = json.dumps({action.name: arguments})
            self._publish(thought)
            result = self._invoke_tool(action.name, arguments)
            thought.thought += thought_text  # saved again with the observation: Dify appends it to the stored one
            thought.tool_input = json.dumps({action.name: arguments})  # now with the configured parameters
            thought.observation = json.dumps({action.name: result}, ensure_ascii=False)
            self._publish(thought)
            scratchpad += _react_step(thought_text, action_text, result)
            self.steps.append(ToolStep(thought.thought, action.name, arguments, result, str(uuid.uuid4())))
        return self._final("")

    def _final(self, answer: str) -> str:
        self._message(answer)
        return answer

    def _react_history(self) -> list[llm.Message]:
        """Earlier turns as Dify replays them to a ReAct model: a turn that used tools as its scratchpad."""
        messages: list[llm.Message] = []
        for turn in self.call.history:
            messages.append(llm.Message("user", turn.query))
            steps = "".join(
                _react_step(step.thought, json.dumps({"action": step.tool, "action_input": dict(step.tool_input)}),
                            step.result) for step in turn.tool_steps)
            messages.append(llm.Message("assistant", steps or turn.answer))
        return messages


def _react_step(thought: str, action: str, observation: str) -> str:
    return f"Thought: {thought}\n\nAction: {action}\n\nObservation: {observation}\n\n"


@dataclass(frozen=True)
class Action:
    name: str
    input: Any


BOUNDARIES = ("\n", " ", "")
CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
CODE_LANGUAGE = re.compile(r"^[a-zA-Z]+\n", re.MULTILINE)


def parse_action(text: str) -> "Action | str":
    """A JSON action blob ({"action": ..., "action_input": ...}, any key with "input" is the input), or the
    text itself when it is none."""
    try:
        data = json.loads(text, strict=False)
    except ValueError:
        return text
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        return text
    name = value = None
    for key, item in data.items():
        if "input" in key.lower():
            value = item
        else:
            name = item
    return Action(str(name), value) if name is not None and value is not None else text


@dataclass
class _Marker:
    """A word ("thought:", "action:") Dify's parser swallows when it starts after a space or a line break."""

    word: str
    cache: str = ""

    def step(self, char: str, parser: "ReactParser", out: list["Action | str"]) -> tuple[bool, bool]:
        """(consumed, send the character as it is)."""
        if char.lower() == self.word[len(self.cache)]:
            if not self.cache and parser.last not in BOUNDARIES:
                return False, True
            parser.last = char
            self.cache = "" if len(self.cache) + 1 == len(self.word) else self.cache + char
            return True, False
        if self.cache:
            parser.last = char
            out.append(self.cache)  # not the word after all: what was held back goes out in one piece
            self.cache = ""
        return False, False


class ReactParser:
    """What Dify's CotAgentOutputParser streams of a ReAct answer: one piece per character, "Thought:" and
    "Action:" swallowed (a held-back prefix goes out as one piece when it turns out to be something else),
    backticks sent as empty pieces, and JSON blobs (in ``` blocks or bare) turned into Actions."""

    def __init__(self) -> None:
        self.last = ""
        self._markers = (_Marker("action:"), _Marker("thought:"))
        self._code = ""
        self._ticks = 0
        self._in_code = False
        self._json = ""
        self._depth = 0
        self._got_json = False

    def feed(self, text: str) -> list[Action | str]:
        out: list[Action | str] = []
        for char in text:
            self._char(char, out)
        return out

    def close(self) -> list[Action | str]:
        out: list[Action | str] = [self._code] if self._code else []
        if self._json:
            out.append(parse_action(self._json))
        return out

    def _char(self, char: str, out: list[Action | str]) -> None:
        self._track_backticks(char, out)
        if not self._in_code and not self._depth:
            send_raw = False
            for marker in self._markers:
                consumed, raw = marker.step(char, self, out)
                if consumed:
                    return
                send_raw = send_raw or raw
            if send_raw:
                self.last = char
                out.append(char)
                return
        if self._ticks == 3:
            if self._in_code:
                self.last = char
                blocks = CODE_BLOCK.findall(self._code)
                out.extend(parse_action(CODE_LANGUAGE.sub("", block.strip())) for block in blocks)
                self._code = ""
            self._in_code = not self._in_code
            self._ticks = 0
        if not self._in_code and self._track_json(char, out):
            return
        if not self._in_code and not self._depth:
            self.last = char
            out.append(char.replace("`", ""))

    def _track_backticks(self, char: str, out: list[Action | str]) -> None:
        if char == "`":
            self.last = char
            self._code += char
            self._ticks += 1
            return
        if self._in_code:
            self.last = char
            self._code += char
        else:
            if self._ticks:
                self.last = char
                out.append(self._code)
            self._code = ""
        self._ticks = 0

    def _track_json(self, char: str, out: list[Action | str]) -> bool:
        """Collect a bare JSON blob; True when `char` closed it (it is parsed with the next character)."""
        if char == "{":
            self._depth += 1
            self.last = char
            self._json += char
        elif char == "}":
            self.last = char
            self._json += char
            if self._depth:
                self._depth -= 1
                if not self._depth:
                    self._got_json = True
                    return True
        elif self._depth:
            self.last = char
            self._json += char
        if self._got_json:
            self._got_json = False
            self.last = char
            out.append(parse_action(self._json))
            self._json = ""
        return False
