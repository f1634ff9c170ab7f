"""Dify events -> answer parts, for every app mode and its quirks."""

from openai_bridge.answer import Failure, Finish, Reasoning, Replace, Text, TokenUsage
from openai_bridge.dify.events import DifyEventTranslator, TranslatorOptions, select_output


def run(events, **options):
    t = DifyEventTranslator(TranslatorOptions(**options))
    parts = [p for e in events for p in t.feed(e)]
    return parts + t.close(), t


def text_of(parts):
    return "".join(p.text for p in parts if isinstance(p, Text))


def test_chat_deltas_usage_and_finish():
    parts, t = run([
        {"event": "message", "answer": "Hel", "message_id": "m1", "conversation_id": "c1", "created_at": 5},
        {"event": "message", "answer": "lo", "message_id": "m1", "conversation_id": "c1"},
        {"event": "message_end", "metadata": {"usage": {"prompt_tokens": 2, "completion_tokens": 3,
                                                        "total_tokens": 5}}},
    ])
    assert text_of(parts) == "Hello"
    assert TokenUsage(2, 3, 5) in parts
    assert parts[-1] == Finish("stop")
    assert (t.envelope.message_id, t.envelope.conversation_id, t.envelope.created_at) == ("m1", "c1", 5)
    assert t.envelope.mode == "chat"


def test_answer_under_other_event_names_is_content():
    parts, _ = run([{"event": "message_file", "answer": "a"}, {"event": "something_new", "answer": "b"}])
    assert text_of(parts) == "ab"


def test_unknown_and_malformed_events_are_ignored():
    parts, _ = run(["not a dict", None, 3, {"event": "node_started", "data": {}}, {"event": "message", "answer": 7},
                    {"event": "ping"}, {"no": "event"}, {"event": "message", "answer": "ok"}])
    assert text_of(parts) == "ok"
    assert parts[-1] == Finish("stop")


def test_message_replace():
    parts, _ = run([{"event": "message", "answer": "bad words"},
                    {"event": "message_replace", "answer": "Sorry.", "reason": "output_moderation"}])
    assert Replace("Sorry.") in parts


def test_assistant_files_become_markdown_once():
    file = {"id": "f1", "type": "image", "url": "https://x/y.png", "belongs_to": "assistant"}
    parts, _ = run([{"event": "message", "answer": "Here:"}, {"event": "message_file", **file},
                    {"event": "message_end", "files": [file, {"id": "f2", "type": "document",
                                                             "url": "https://x/a.pdf", "filename": "a.pdf"}]}])
    assert text_of(parts) == "Here:\n\n![image](https://x/y.png)\n\n[a.pdf](https://x/a.pdf)"


def test_user_files_are_not_echoed():
    parts, _ = run([{"event": "message_file", "id": "u", "belongs_to": "user", "url": "https://x/u.png"}])
    assert text_of(parts) == ""


def test_agent_thoughts_become_readable_reasoning_once():
    thought = {"event": "agent_thought", "id": "th1", "thought": "", "tool": "", "tool_input": "", "observation": ""}
    events = [
        thought,
        {**thought, "thought": "I should search", "tool": "search", "tool_input": '{"q": "x"}'},
        {**thought, "thought": "I should search", "tool": "search", "tool_input": '{"q": "x"}',
         "observation": "found it"},
        {**thought, "thought": "I should search", "tool": "search", "observation": "found it"},
        {"event": "agent_message", "answer": "Done"},
        {"event": "message_end"},
    ]
    parts, _ = run(events)
    reasoning = [p.text for p in parts if isinstance(p, Reasoning)]
    # The agent's own thought comes with the tool call it led to, once, although Dify re-sends it.
    assert reasoning == ["I should search\n", 'Calling tool search with {"q": "x"}\n',
                         "Tool search returned: found it\n\n"]
    assert all(p.from_agent_steps for p in parts if isinstance(p, Reasoning))
    assert text_of(parts) == "Done"


def test_agent_steps_can_be_hidden():
    parts, _ = run([{"event": "agent_thought", "id": "1", "tool": "t", "observation": "o"}], show_agent_steps=False)
    assert not [p for p in parts if isinstance(p, Reasoning)]


def test_agent_mode_closing_message_is_not_appended_twice():
    parts, _ = run([{"event": "agent_message", "answer": "Hi "}, {"event": "agent_message", "answer": "there"},
                    {"event": "message", "answer": "Hi there"}, {"event": "message_end"}])
    assert text_of(parts) == "Hi there"


def test_chatflow_message_end_and_workflow_finished_in_either_order():
    env = {"conversation_id": "c", "message_id": "m"}
    for tail in (
        [{"event": "workflow_finished", "data": {"status": "succeeded", "outputs": {"answer": "x"}}, **env},
         {"event": "message_end", **env}],
        [{"event": "message_end", **env},
         {"event": "workflow_finished", "data": {"status": "succeeded", "outputs": {"answer": "x"}}, **env}],
    ):
        parts, _ = run([{"event": "workflow_started", **env}, {"event": "node_started", **env},
                        {"event": "message", "answer": "x", **env}, *tail])
        assert text_of(parts) == "x"
        assert [p for p in parts if isinstance(p, Finish)] == [Finish("stop")]


def test_chatflow_failure_is_an_error():
    env = {"conversation_id": "c", "message_id": "m"}
    parts, _ = run([{"event": "workflow_started", **env},
                    {"event": "workflow_finished", "data": {"status": "failed", "error": "boom"}, **env},
                    {"event": "error", "code": "invalid_param", "message": "Run failed: boom", "status": 400}])
    failures = [p for p in parts if isinstance(p, Failure)]
    assert len(failures) == 1 and "boom" in failures[0].error.message
    assert failures[0].error.status == 502


def test_workflow_streamed_text():
    env = {"workflow_run_id": "w1"}
    parts, t = run([{"event": "workflow_started", **env}, {"event": "text_chunk", "data": {"text": "a"}, **env},
                    {"event": "text_chunk", "data": {"text": "b"}, **env},
                    {"event": "workflow_finished", "data": {"status": "succeeded", "outputs": {"answer": "ab"},
                                                            "total_tokens": 9}, **env}])
    assert text_of(parts) == "ab"
    assert TokenUsage(0, 9, 9) in parts
    assert t.envelope.mode == "workflow"


def test_workflow_outputs_when_nothing_streamed():
    parts, _ = run([{"event": "workflow_finished", "workflow_run_id": "w",
                     "data": {"status": "succeeded", "outputs": {"result": "42", "n": 1}}}])
    assert text_of(parts) == "42"


def test_workflow_output_variable_setting():
    parts, _ = run([{"event": "workflow_finished", "workflow_run_id": "w",
                     "data": {"status": "succeeded", "outputs": {"a": "1", "b": "2"}}}], output_variable="b")
    assert text_of(parts) == "2"


def test_workflow_failed_and_stopped():
    parts, _ = run([{"event": "workflow_finished", "workflow_run_id": "w",
                     "data": {"status": "failed", "error": "division by zero"}}])
    assert isinstance(parts[-1], Failure) and "division by zero" in parts[-1].error.message
    parts, _ = run([{"event": "text_chunk", "workflow_run_id": "w", "data": {"text": "part"}},
                    {"event": "workflow_finished", "workflow_run_id": "w", "data": {"status": "stopped"}}])
    assert parts[-1] == Finish("length")


def test_select_output():
    assert select_output({"only": {"k": 1}}) == '{"k": 1}'
    assert select_output({"text": "t", "x": 1}) == "t"
    assert select_output({"x": 1, "y": 2}) == '{"x": 1, "y": 2}'
    assert select_output(None) == ""


def test_reasoning_chunk():
    parts, _ = run([{"event": "reasoning_chunk", "data": {"reasoning": "hmm", "is_final": False}}])
    assert Reasoning("hmm") in parts


def test_error_event():
    parts, _ = run([{"event": "message", "answer": "a"},
                    {"event": "error", "code": "provider_quota_exceeded", "message": "quota", "status": 400}])
    assert isinstance(parts[-1], Failure) and parts[-1].error.status == 429
    assert parts[-1].error.code == "insufficient_quota"


def test_nothing_after_the_end():
    t = DifyEventTranslator()
    t.feed({"event": "message_end"})
    assert t.feed({"event": "message", "answer": "late"}) == []
    assert t.close() == []


def test_huge_answers_are_rechunked():
    from openai_bridge.run.pipeline import MAX_PART_CHARS, AnswerPipeline
    from openai_bridge.settings import EndpointSettings

    pipeline = AnswerPipeline(EndpointSettings())
    big = "x" * (MAX_PART_CHARS * 3 + 5)
    parts = pipeline.feed({"event": "message", "answer": big})
    assert len(parts) == 4 and all(len(p.text) <= MAX_PART_CHARS for p in parts)
    assert "".join(p.text for p in parts) == big
