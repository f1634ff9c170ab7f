"""Conversation memory: threads map to Dify conversations, regenerate and edits re-seed, storage is bounded."""

import json

from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.server import handle
from openai_bridge.memory.conversations import BUCKETS, PER_BUCKET, ConversationMemory, Thread, thread_of
from openai_bridge.run.timing import Timing
from openai_bridge.wire.chat import ChatMessage

from .fakes import SETTINGS, FakeDify, chat_events, post

CONV = {**SETTINGS, "memory_mode": "conversation"}
CID = "c0ffee00-0000-4000-8000-000000000001"


def ask(dify, messages, settings=CONV, **extra):
    dify.events = chat_events(f"reply{len(dify.calls) + 1}")
    response = handle(post("/chat/completions", {"model": "m", "messages": messages, **extra}), settings, dify,
                      AppFormCache(), Timing(1.0, 1.0))
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return response, body


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def test_thread_continues_one_conversation():
    dify = FakeDify()
    history = [{"role": "system", "content": "be nice"}, user("one")]
    for turn in range(4):
        response, _ = ask(dify, history)
        assert response.headers["X-Dify-Conversation-Id"] == CID
        history += [assistant(f"reply{turn + 1}"), user(f"turn{turn + 2}")]
    first, *rest = dify.calls
    assert first["conversation_id"] is None
    assert all(c["conversation_id"] == CID for c in rest)
    assert rest[-1]["query"].endswith("turn4") and "reply1" not in rest[-1]["query"]


def test_streamed_turns_are_remembered_too():
    dify = FakeDify()
    ask(dify, [user("one")], stream=True)
    ask(dify, [user("one"), assistant("reply1"), user("two")], stream=True)
    assert dify.calls[1]["conversation_id"] == CID


def test_unknown_history_starts_a_seeded_conversation():
    dify = FakeDify()
    ask(dify, [user("one"), assistant("an answer from elsewhere"), user("two")])
    call = dify.calls[0]
    assert call["conversation_id"] is None
    assert "[Conversation so far]" in call["query"] and "an answer from elsewhere" in call["query"]
    assert call["query"].endswith("[New message]\ntwo")


def test_regenerate_does_not_continue_the_moved_on_conversation():
    dify = FakeDify()
    ask(dify, [user("one")])
    ask(dify, [user("one"), assistant("reply1"), user("two")])  # continues, conversation answered "two"
    ask(dify, [user("one"), assistant("reply1"), user("two")])  # regenerate the answer to "two"
    assert dify.calls[1]["conversation_id"] == CID
    assert dify.calls[2]["conversation_id"] is None and "[Conversation so far]" in dify.calls[2]["query"]


def test_different_users_never_share():
    dify = FakeDify()
    ask(dify, [user("one")], user="alice")
    ask(dify, [user("one"), assistant("reply1"), user("two")], user="bob")
    assert dify.calls[1]["conversation_id"] is None


def test_explicit_conversation_and_bad_ids():
    dify = FakeDify()
    ask(dify, [user("hi"), assistant("x"), user("again")], settings=SETTINGS, conversation_id=CID.upper())
    assert dify.calls[0]["conversation_id"] == CID and dify.calls[0]["query"] == "again"
    response, body = ask(dify, [user("hi")], conversation_id="not-a-uuid")
    assert response.status == 400 and json.loads(body)["error"]["param"] == "conversation_id"
    request = post("/chat/completions", {"model": "m", "messages": [user("hi")]},
                   headers={"x-dify-conversation-id": "bad"})
    assert handle(request, CONV, dify, AppFormCache()).status == 400


def test_conversation_id_in_body_and_first_chunk():
    dify = FakeDify()
    _, body = ask(dify, [user("one")])
    assert json.loads(body)["conversation_id"] == CID
    _, body = ask(dify, [user("one")], stream=True)
    first = json.loads(body.split(b"\n\n")[0][6:])
    assert first["conversation_id"] == CID


def test_failing_storage_degrades_to_stateless():
    dify = FakeDify(storage_fails=True)
    response, _ = ask(dify, [user("one")])
    assert response.status == 200
    response, _ = ask(dify, [user("one"), assistant("reply1"), user("two")])
    assert response.status == 200 and "[Conversation so far]" in dify.calls[1]["query"]


def test_storage_is_bounded_and_prefixed():
    storage = FakeDify()
    memory = ConversationMemory(storage, "ep-9", "app-1", clock=iter(range(10**6)).__next__)
    threads = [Thread(i % BUCKETS, f"digest-{i}") for i in range(BUCKETS * PER_BUCKET * 2)]
    for i, thread in enumerate(threads):
        memory.advance(None, thread, f"conv-{i}")
    assert all(k.startswith("ep-9/") for k in storage.storage)
    assert len(storage.storage) <= BUCKETS
    assert all(len(json.loads(v)) <= PER_BUCKET for v in storage.storage.values())
    assert memory.find(threads[-1]) == f"conv-{len(threads) - 1}"
    assert memory.find(threads[0]) is None


def test_digest_ignores_system_messages_and_think_blocks():
    a = [ChatMessage(role="system", content="v1"), ChatMessage(role="user", content="hi"),
         ChatMessage(role="assistant", content="<think>x</think>hello")]
    b = [ChatMessage(role="system", content="v2"), ChatMessage(role="user", content="hi"),
         ChatMessage(role="assistant", content="hello")]
    assert thread_of("c", a) == thread_of("c", b)
    assert thread_of("c", a) != thread_of("d", a)
    assert thread_of("c", a[:1]) is None  # only a system prompt: nothing to continue


def test_every_turn_of_a_thread_shares_one_record():
    turn1 = [ChatMessage(role="user", content="hi")]
    turn2 = [*turn1, ChatMessage(role="assistant", content="hello"), ChatMessage(role="user", content="more")]
    first, second = thread_of("c", turn1), thread_of("c", turn2)
    assert first is not None and second is not None
    assert first.bucket == second.bucket and first.digest != second.digest


def test_all_messages_and_last_user_message_modes():
    dify = FakeDify()
    messages = [{"role": "system", "content": "rules"}, user("one"), assistant("two"), user("three")]
    ask(dify, messages, settings={**SETTINGS, "memory_mode": "all_messages"})
    assert dify.calls[0]["query"] == "System: rules\n\nUser: one\n\nAssistant: two\n\nUser: three"
    ask(dify, messages, settings={**SETTINGS, "memory_mode": "last_user_message"})
    assert dify.calls[1]["query"] == "[System instructions]\nrules\n\n[User message]\nthree"
    assert dify.calls[1]["conversation_id"] is None
