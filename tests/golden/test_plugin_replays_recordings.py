"""Every recording of a real Dify 1.14.1, replayed through the real plugin process and checked from the client's side.

`Replay` rows: one per recorded event stream or HTTP error, asked streamed and not (chat, Responses or legacy
Completions as the recording's README says), with what the OpenAI client must get: content, reasoning, finish
reason, usage, the Dify conversation id and response id the recording carries, or the error. The sequences below
replay the multi-turn cases and check that the plugin sends Dify what the recording shows (query, conversation,
inputs), except where the recording shows a defect that has been fixed (the test says which).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from dify_emulator import Emulator

from .replay import (
    API_KEY,
    APPS,
    RECORDINGS,
    Answer,
    ask_chat,
    ask_completions,
    ask_responses,
    parameters_of,
    recorded_events,
    recorded_reply,
    scenario_for,
    user_message,
)


@dataclass(frozen=True)
class Replay:
    file: str
    content: str = ""
    reasoning: str = ""
    usage: tuple[int, int, int] = (0, 0, 0)
    error: tuple[int, str] | None = None  # (status, code) of the answer that was not streamed
    begins: bool = False  # a stream had begun when the error came: it arrives as an error frame after a 200
    api: str = "chat"
    image: str = ""  # "data" (a PNG sent inline) or an https URL, for the cases that carried a file

    @property
    def app(self) -> str:
        name = self.file.split("/")[-1]
        if name.startswith("switch_app"):
            return "a_echo" if ".call1." in name else "d_counter"
        if name.startswith("explicit_unknown"):
            return "d_counter"
        if name.startswith("direct_file"):
            return "c_sysprompt_file"
        return next(app for app in sorted(APPS, key=len, reverse=True) if name.startswith(app.split("_")[0] + "_"))


REPLAYS = [
    Replay('a_chatflow_nonstream.jsonl', content='echo: hello real dify'),
    Replay('a_chatflow_stream.jsonl', content='echo: stream me'),
    Replay('a_chatflow_system_prompt_no_var.jsonl',
           content='echo: [System instructions]\nBe terse.\n\n[User message]\nhi with system'),
    Replay('a_responses_nonstream.jsonl', api='responses', content='echo: hello responses'),
    Replay('a_responses_stream.jsonl', api='responses', content='echo: stream responses'),
    Replay('b_workflow_2turns.call1.jsonl', content='w1'),
    Replay('b_workflow_2turns.call2.jsonl',
           content='[Conversation so far]\nUser: w1\n\nAssistant: w1\n\n[New message]\nw2'),
    Replay('b_workflow_nonstream.jsonl', content='hi workflow'),
    Replay('b_workflow_stream.jsonl', content='hi workflow stream'),
    Replay('c_image_data_url.jsonl', image='data', content=' | what is this | file=upload.png'),
    Replay('c_image_data_url_stream.jsonl', image='data', content=' | what is this | file=upload.png'),
    Replay('c_image_https_url.http400.json', image='https://example.com/cat.png', error=(400, 'file_url_unreachable')),
    Replay('c_image_https_url_stream.http400.json',
           image='https://example.com/cat.png',
           error=(400, 'file_url_unreachable')),
    Replay('c_image_on_turn2.call1.jsonl', content=' | text first | file='),
    Replay('c_image_on_turn2.call2.jsonl',
           image='data',
           content=(' | [Conversation so far]\nUser: text first\n\nAssistant:  | text first | file=\n\n[Ne'
                  'w message]\nnow an image | file=upload.png')),
    Replay('c_system_prompt_input.jsonl', content='You are a pirate. | ahoy | file='),
    Replay('d_all_messages_2turns.call1.jsonl',
           content='dialogue_count=1 turns=1 tag= conv=42ded7c8-f1e0-48ad-aebe-a0910f481b94 q=User: one'),
    Replay('d_all_messages_2turns.call2.jsonl',
           content=('dialogue_count=1 turns=1 tag= conv=3f806eb8-67f5-4547-b8b3-7213c024acf1 q=User: '
                  'one\n\nAssistant: dialogue_count=1 turns=1 tag= conv=42ded7c8-f1e0-48ad-aebe-a0910'
                  'f481b94 q=User: one\n\nUser: two')),
    Replay('d_conversation_3turns_nonstream.call1.jsonl',
           content='dialogue_count=1 turns=1 tag= conv=2efe6924-f42a-4d2f-832d-2b197e412662 q=one'),
    Replay('d_conversation_3turns_nonstream.call2.jsonl',
           content='dialogue_count=3 turns=2 tag= conv=2efe6924-f42a-4d2f-832d-2b197e412662 q=two'),
    Replay('d_conversation_3turns_nonstream.call3.jsonl',
           content='dialogue_count=4 turns=3 tag= conv=2efe6924-f42a-4d2f-832d-2b197e412662 q=three'),
    Replay('d_conversation_3turns_stream.call1.jsonl',
           content='dialogue_count=1 turns=1 tag= conv=33596ed7-e8a3-48be-9fa3-13a302095b08 q=one'),
    Replay('d_conversation_3turns_stream.call2.jsonl',
           content='dialogue_count=2 turns=2 tag= conv=33596ed7-e8a3-48be-9fa3-13a302095b08 q=two'),
    Replay('d_conversation_3turns_stream.call3.jsonl',
           content='dialogue_count=3 turns=3 tag= conv=33596ed7-e8a3-48be-9fa3-13a302095b08 q=three'),
    Replay('d_conversation_deleted_between_turns.call1.jsonl',
           content='dialogue_count=1 turns=1 tag= conv=9a4a9bbe-1e80-4bab-98f4-a5bf1c71bcb0 q=del1'),
    # Dify's refusal of an unknown conversation, replayed to a call that named none: a plain 400. What the plugin
    # does when it did name one is in the sequences below.
    Replay('d_conversation_deleted_between_turns.call2.http400.json', error=(400, 'invalid_param')),
    Replay('d_conversation_deleted_between_turns.call3.http400.json', error=(400, 'invalid_param')),
    Replay('d_conversation_deleted_between_turns.call4.http400.json', error=(400, 'invalid_param')),
    Replay('d_inputs_changed_turn2.call1.jsonl',
           content='dialogue_count=1 turns=1 tag=A conv=f028457b-5395-4d4b-8d17-9ccebc50efef q=in1'),
    Replay('d_inputs_changed_turn2.call2.jsonl',
           content='dialogue_count=3 turns=2 tag=B conv=f028457b-5395-4d4b-8d17-9ccebc50efef q=in2'),
    Replay('d_last_user_message_3turns.call1.jsonl',
           content='dialogue_count=1 turns=1 tag= conv=7eab2ae4-3c3a-4b19-abfc-c6a57ccacca1 q=one'),
    Replay('d_last_user_message_3turns.call2.jsonl',
           content='dialogue_count=1 turns=1 tag= conv=765d31a1-d9ea-41bb-bfaf-2a540a6c802e q=two'),
    Replay('d_last_user_message_3turns.call3.jsonl',
           content='dialogue_count=1 turns=1 tag= conv=5b634c73-4b50-4bf8-b476-a9509f0ed8b9 q=three'),
    Replay('d_responses_previous_response_id.call1.jsonl',
           api='responses',
           content='dialogue_count=1 turns=1 tag= conv=54d64573-6ad9-43a4-88b4-6fdd523d954e q=first'),
    Replay('d_responses_previous_response_id.call2.jsonl',
           api='responses',
           content='dialogue_count=2 turns=2 tag= conv=54d64573-6ad9-43a4-88b4-6fdd523d954e q=second'),
    Replay('d_responses_previous_response_id.call3.jsonl',
           api='responses',
           content='dialogue_count=4 turns=3 tag= conv=54d64573-6ad9-43a4-88b4-6fdd523d954e q=third'),
    Replay('d_responses_previous_response_id_stream.call1.jsonl',
           api='responses',
           content='dialogue_count=1 turns=1 tag= conv=20e2e751-cccf-45ff-aa11-694f0f85c0c6 q=s-first'),
    Replay('d_responses_previous_response_id_stream.call2.jsonl',
           api='responses',
           content='dialogue_count=3 turns=2 tag= conv=20e2e751-cccf-45ff-aa11-694f0f85c0c6 q=s-second'),
    Replay('direct_file_input_on_continued_conversation.jsonl',
           image='data',
           content=' | image on turn 2, same conversation | file=upload.png'),
    Replay('e_completion_chat.http500.json', error=(502, 'app_mode_unsupported')),
    Replay('e_completion_legacy_completions.http500.json', api='completions', error=(502, 'app_mode_unsupported')),
    Replay('explicit_unknown_conversation_header.http400.json', error=(400, 'invalid_param')),
    Replay('f2_failing_chatflow_nonstream.jsonl', error=(502, 'app_run_failed'), begins=True),
    Replay('f2_failing_chatflow_stream.jsonl', error=(502, 'app_run_failed'), begins=True),
    Replay('f_failing_workflow_nonstream.jsonl', error=(502, 'app_run_failed'), begins=True),
    Replay('f_failing_workflow_stream.jsonl', error=(502, 'app_run_failed'), begins=True),
    Replay('llm/g_chat_llm_error_blocking.http400.json', error=(400, 'invalid_param')),
    Replay('llm/g_chat_llm_error_stream.jsonl', error=(502, 'model_error')),
    Replay('llm/g_chat_plain_blocking.call1.jsonl',
           content='Hello! This is fake-chat. You said: hello blocking',
           usage=(13, 8, 21)),
    Replay('llm/g_chat_plain_blocking.call2.jsonl',
           content='Hello! This is fake-chat. You said: second blocking turn',
           usage=(30, 9, 39)),
    Replay('llm/g_chat_plain_stream.call1.jsonl',
           content='Hello! This is fake-chat. You said: hello fake',
           usage=(13, 8, 21)),
    Replay('llm/g_chat_plain_stream.call2.jsonl',
           content='Hello! This is fake-chat. You said: and a second turn',
           usage=(31, 10, 41)),
    Replay('llm/g_chat_think_blocking.jsonl',
           content='The answer is 42.',
           reasoning='some reasoning',
           usage=(14, 8, 22)),
    Replay('llm/g_chat_think_stream.jsonl', content='The answer is 42.', reasoning='some reasoning', usage=(14, 8, 22)),
    Replay('llm/h_agent_llm_error_stream.jsonl', error=(502, 'model_error')),
    Replay('llm/h_agent_plain_stream.jsonl',
           content='Hello! This is fake-chat. You said: hello agent',
           usage=(13, 8, 21)),
    Replay('llm/h_agent_think_stream.jsonl',
           content='The answer is 42.',
           reasoning='some reasoning',
           usage=(14, 8, 22)),
    Replay('llm/h_agent_tool_blocking.http400.json', error=(400, 'invalid_param')),
    Replay('llm/h_agent_tool_stream.call1.jsonl',
           content='The current time (from the current_time tool) is 2026-12-03 16:40:04.',
           reasoning=('Calling tool current_time with {"current_time": {"timezone": "UTC"}}\nTool curren'
                  't_time returned: {"current_time": "2026-12-03 16:40:04"}\n\n'),
           usage=(38, 19, 57)),
    Replay('llm/h_agent_tool_stream.call2.jsonl',
           content='The current time (from the current_time tool) is 2026-12-03 16:40:04.',
           usage=(42, 10, 52)),
    Replay('llm/i_chatflow_llm_blocking.call1.jsonl',
           content='Hello! This is fake-chat. You said: hello blocking chatflow',
           usage=(14, 9, 23)),
    Replay('llm/i_chatflow_llm_blocking.call2.jsonl',
           content='Hello! This is fake-chat. You said: second blocking chatflow turn',
           usage=(33, 10, 43)),
    Replay('llm/i_chatflow_llm_error_blocking.http400.json', error=(502, 'app_run_failed')),
    Replay('llm/i_chatflow_llm_error_stream.jsonl', error=(502, 'app_run_failed'), begins=True),
    Replay('llm/i_chatflow_llm_stream.call1.jsonl',
           content='Hello! This is fake-chat. You said: hello chatflow',
           usage=(13, 8, 21)),
    Replay('llm/i_chatflow_llm_stream.call2.jsonl',
           content='Hello! This is fake-chat. You said: second chatflow turn',
           usage=(30, 9, 39)),
    Replay('llm/i_chatflow_think_tagged_blocking.jsonl',
           content='The answer is 42.',
           reasoning='some reasoning',
           usage=(14, 8, 22)),
    Replay('llm/i_chatflow_think_tagged_stream.jsonl',
           content='The answer is 42.',
           reasoning='some reasoning',
           usage=(14, 8, 22)),
    Replay('llm/j_chatflow_plain_separated_stream.jsonl',
           content='Hello! This is fake-chat. You said: hello separated',
           usage=(13, 8, 21)),
    Replay('llm/j_chatflow_think_separated_blocking.jsonl',
           content='The answer is 42.',
           reasoning='some reasoning',
           usage=(14, 8, 22)),
    Replay('llm/j_chatflow_think_separated_stream.call1.jsonl',
           content='The answer is 42.',
           reasoning='some reasoning',
           usage=(14, 8, 22)),
    Replay('llm/j_chatflow_think_separated_stream.call2.jsonl',
           content='The answer is 42.',
           reasoning='some reasoning',
           usage=(31, 8, 39)),
    Replay('llm/k_agent_react_plain_stream.jsonl',
           content=' I can answer directly.\n\nHello from the ReAct agent.',
           usage=(163, 17, 180)),
    Replay('llm/k_agent_react_tool_stream.call1.jsonl',
           content=(' I need the current time.\n\n I now know the current time.\n\nThe current time is kn'
                  'own (ReAct final answer).'),
           reasoning=('I need the current time.\nCalling tool current_time with {"current_time": {"timez'
                  'one": "UTC"}}\nTool current_time returned: {"current_time": "2026-12-03 16:41:35"'
                  '}\n\n'),
           usage=(350, 36, 386)),
    Replay('llm/k_agent_react_tool_stream.call2.jsonl',
           content=' I now know the current time.\n\nThe current time is known (ReAct final answer).',
           usage=(195, 22, 217)),
    Replay('switch_app_same_endpoint.call1.jsonl', content='echo: sw1'),
    Replay('switch_app_same_endpoint.call2.http400.json', error=(400, 'invalid_param')),
]


def test_every_recording_is_replayed():
    """A new recording without a row fails here: nothing recorded is left unchecked."""
    recorded = {str(p.relative_to(RECORDINGS)) for p in RECORDINGS.rglob("*.json*")
                if "daemon-requests" not in p.parts}
    fetched = {file for _, file in APPS.values()}
    assert recorded == {r.file for r in REPLAYS} | fetched
    assert len({r.file for r in REPLAYS}) == len(REPLAYS)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(scenario=scenario_for("a_echo", {"echo": True})) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client(emu: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)


def envelope_of(file: str) -> tuple[str, str]:
    """(conversation id, the message or workflow run id responses are named after) the recording carries."""
    events = [e for e in recorded_events(file) if isinstance(e, dict)]
    conversation = next((e["conversation_id"] for e in events if e.get("conversation_id")), "")
    run = next((e.get("message_id") or e.get("workflow_run_id") for e in events
                if e.get("message_id") or e.get("workflow_run_id")), "")
    return conversation, run


def ask(client: openai.OpenAI, case: Replay, stream: bool) -> Answer:
    if case.api == "responses":
        return ask_responses(client, stream)
    if case.api == "completions":
        return ask_completions(client, stream)
    return ask_chat(client, stream, case.image)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("case", REPLAYS, ids=[r.file for r in REPLAYS])
def test_the_plugin_answers_each_recording_as_openai_clients_expect(emu, client, case, stream):
    emu.load_scenario(scenario_for(case.app, recorded_reply(case.file)))
    answer = ask(client, case, stream)
    if case.error is not None:
        status, code = (200, case.error[1]) if stream and case.begins else case.error
        assert (answer.status, answer.error) == (status, code), answer
        return
    conversation, run = envelope_of(case.file)
    prefix = {"chat": "chatcmpl-", "responses": "resp_", "completions": "cmpl-"}[case.api]
    expected = Answer(case.content, case.reasoning, "stop", case.usage, conversation if case.api != "completions"
                      else "", f"{prefix}{run}" if not (stream and case.api == "completions") else "")
    if stream and case.api == "completions":
        answer = Answer(answer.content, finish=answer.finish)  # the legacy chunks carry no usage or ids here
        expected = Answer(case.content, finish="stop")
    assert answer == expected


# ---------------------------------------------------------------- the multi-turn recordings, turn by turn


def sent(emu: Emulator) -> list[dict]:
    """The app calls the plugin made, as Dify received them."""
    return [r["request"] for r in emu.records if r["type"] == "app"]


def recorded_query(file: str) -> str:
    """The query Dify received in that call: a chatflow's workflow_started shows it as sys.query."""
    started = next(e for e in recorded_events(file) if e.get("event") == "workflow_started")
    return started["data"]["inputs"]["sys.query"]


def conversation_app(emu: Emulator, app: str, files: list[str], memory_mode: str = "conversation") -> str:
    scenario = scenario_for(app, {"echo": True})
    scenario["replies"] = [recorded_reply(f) for f in files]
    scenario["settings"]["memory_mode"] = memory_mode
    fresh_dify(emu, scenario)
    return scenario["settings"]["app_id"]["app_id"]


def fresh_dify(emu: Emulator, scenario: dict) -> None:
    # Recorded conversation ids recur across rows (one recording per turn): each sequence starts on a clean Dify.
    emu.conversations.clear()
    emu.load_scenario(scenario)
    emu.records.clear()


def turn(client: openai.OpenAI, history: list[dict], text: str, stream: bool = False, **extra) -> str:
    history.append({"role": "user", "content": text} if isinstance(text, str) else text)
    if stream:
        chunks = client.chat.completions.create(model="m", messages=history, stream=True, **extra)
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        answer = client.chat.completions.create(model="m", messages=history, **extra).choices[0].message.content
    history.append({"role": "assistant", "content": answer})
    return answer


@pytest.mark.parametrize("kind", ["nonstream", "stream"])
def test_one_thread_is_one_dify_conversation(emu, client, kind):
    files = [f"d_conversation_3turns_{kind}.call{n}.jsonl" for n in (1, 2, 3)]
    conversation_app(emu, "d_counter", files)
    history: list[dict] = []
    for text in ("one", "two", "three"):
        turn(client, history, text, stream=kind == "stream")
    conversation = envelope_of(files[0])[0]
    assert [(c["query"], c["conversation_id"]) for c in sent(emu)] == \
        [(recorded_query(f), None if n == 0 else conversation) for n, f in enumerate(files)]
    assert history[-1]["content"].startswith("dialogue_count=") and history[-1]["content"].endswith("q=three")


@pytest.mark.parametrize(("mode", "case"), [("last_user_message", "d_last_user_message_3turns"),
                                            ("all_messages", "d_all_messages_2turns")])
def test_the_stateless_memory_modes_send_what_was_recorded(emu, client, mode, case):
    files = sorted(p.name for p in RECORDINGS.glob(f"{case}.call*.jsonl"))
    conversation_app(emu, "d_counter", files, memory_mode=mode)
    history: list[dict] = []
    for text in ("one", "two", "three")[: len(files)]:
        turn(client, history, text)
    assert [c["query"] for c in sent(emu)] == [recorded_query(f) for f in files]
    assert all(not c["conversation_id"] for c in sent(emu))


def test_a_workflow_thread_sends_its_history_in_the_query_input(emu, client):
    files = ["b_workflow_2turns.call1.jsonl", "b_workflow_2turns.call2.jsonl"]
    conversation_app(emu, "b_workflow", files)
    history: list[dict] = []
    turn(client, history, "w1")
    turn(client, history, "w2")
    recorded = [next(e for e in recorded_events(f) if e.get("event") == "workflow_started")["data"]["inputs"]
                for f in files]
    assert [c["inputs"]["query"] for c in sent(emu)] == [r["query"] for r in recorded]


def test_changed_inputs_go_to_the_same_conversation(emu, client):
    files = ["d_inputs_changed_turn2.call1.jsonl", "d_inputs_changed_turn2.call2.jsonl"]
    conversation_app(emu, "d_counter", files)
    history: list[dict] = []
    turn(client, history, "in1", extra_body={"inputs": {"tag": "A"}})
    answer = turn(client, history, "in2", extra_body={"inputs": {"tag": "B"}})
    first, second = sent(emu)
    assert second["conversation_id"] == envelope_of(files[0])[0] and second["inputs"] == {"tag": "B"}
    assert "tag=B" in answer  # what Dify 1.14.1 answered: it used the new input mid-conversation


def test_a_file_on_the_second_turn_stays_in_the_conversation(emu, client):
    # The recording's second call (c_image_on_turn2.call2) shows the defect this fixes: a new, seeded conversation.
    # Fixed, the plugin continues the conversation; Dify's answer to exactly that call is recorded too.
    files = ["c_image_on_turn2.call1.jsonl", "direct_file_input_on_continued_conversation.jsonl"]
    conversation_app(emu, "c_sysprompt_file", files)
    history: list[dict] = []
    turn(client, history, "text first")
    message = user_message("data")
    message["content"][0]["text"] = "image on turn 2, same conversation"
    answer = turn(client, history, message)
    first, second = sent(emu)
    conversation = envelope_of(files[0])[0]
    assert envelope_of(files[1])[0] == conversation  # the recorded answer is that conversation's
    assert second["conversation_id"] == conversation and second["query"] == "image on turn 2, same conversation"
    assert second["inputs"]["image"]["transfer_method"] == "tool_file"
    assert answer.endswith("file=upload.png")


def fresh(events: list, conversation: str) -> list:
    """The same answer in a new conversation: a reply to the call that re-seeds one."""
    renamed = copy.deepcopy(events)
    message = str(uuid.uuid4())
    for event in renamed:
        if isinstance(event, dict) and "conversation_id" in event:
            event.update(conversation_id=conversation, message_id=message)
    return renamed


@pytest.mark.parametrize("stream", [False, True])
def test_a_conversation_deleted_between_turns_heals(emu, client, stream):
    first = recorded_events("d_conversation_deleted_between_turns.call1.jsonl")
    new = str(uuid.uuid4())
    scenario = scenario_for("d_counter", {"events": first})
    scenario["settings"]["memory_mode"] = "conversation"
    scenario["replies"] = [{"events": first}, recorded_reply("d_conversation_deleted_between_turns.call2.http400.json"),
                           {"events": fresh(first, new)}, {"events": fresh(first, new)}]
    fresh_dify(emu, scenario)
    history: list[dict] = []
    turn(client, history, "del1", stream)
    turn(client, history, "del2", stream)  # recorded: a 400 on this turn and every later one
    turn(client, history, "del3", stream)
    calls = sent(emu)
    old = envelope_of("d_conversation_deleted_between_turns.call1.jsonl")[0]
    assert [c["conversation_id"] for c in calls] == [None, old, None, new]
    assert calls[2]["query"].startswith("[Conversation so far]\nUser: del1") and calls[3]["query"] == "del3"


def test_switching_the_app_does_not_send_the_old_apps_conversation(emu, client):
    # recorded: switch_app_same_endpoint.call2 was Dify's 400 for a_echo's conversation id sent to d_counter
    scenario = scenario_for("a_echo", recorded_reply("switch_app_same_endpoint.call1.jsonl"))
    scenario["settings"]["memory_mode"] = "conversation"
    other = f"d_counter-{uuid.uuid4().hex[:8]}"
    scenario["apps"] = {other: {"mode": "advanced-chat", "parameters": parameters_of("d_counter"),
                                "replies": [recorded_reply("d_conversation_3turns_nonstream.call1.jsonl"),
                                            recorded_reply("switch_app_same_endpoint.call2.http400.json")]}}
    fresh_dify(emu, scenario)
    history: list[dict] = []
    turn(client, history, "sw1")
    emu.set_settings(app_id=other)
    answer = turn(client, history, "sw2")
    first, second = sent(emu)
    assert second["app_id"] == other and not second["conversation_id"]
    assert "[Conversation so far]" in second["query"] and answer.startswith("dialogue_count=1")


def test_an_unknown_conversation_in_the_header_is_the_clients_404(emu, client):
    emu.load_scenario(scenario_for("d_counter", recorded_reply("explicit_unknown_conversation_header.http400.json")))
    unknown = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"X-Dify-Conversation-Id": unknown})
    assert info.value.body["code"] == "conversation_not_found" and unknown in info.value.body["message"]


@pytest.mark.parametrize("case", ["d_responses_previous_response_id", "d_responses_previous_response_id_stream"])
def test_previous_response_id_chains_reach_one_conversation(emu, client, case):
    files = sorted(p.name for p in RECORDINGS.glob(f"{case}.call*.jsonl"))
    conversation_app(emu, "d_counter", files, memory_mode="last_user_message")
    previous = None
    for n, file in enumerate(files):
        text = recorded_query(file)
        if case.endswith("_stream") and n:
            with client.responses.stream(model="m", input=text, previous_response_id=previous) as events:
                previous = events.get_final_response().id
        else:
            previous = client.responses.create(model="m", input=text, previous_response_id=previous).id
    conversation = envelope_of(files[0])[0]
    assert [(c["query"], c["conversation_id"]) for c in sent(emu)] == \
        [(recorded_query(f), None if n == 0 else conversation) for n, f in enumerate(files)]
    assert previous is not None and previous.startswith("resp_")
