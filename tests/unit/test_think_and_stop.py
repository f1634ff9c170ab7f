"""`<think>` splitting and `stop` cutting, with markers split at every possible point."""

import pytest

from openai_bridge.answer import Reasoning, Text
from openai_bridge.run.stop import StopCutter
from openai_bridge.run.think import ThinkSplitter
from openai_bridge.settings import ReasoningMode

ANSWER = "<think>\nweighing options\n</think>\n\nThe answer is 42."


def split(chunks, mode=ReasoningMode.SPLIT):
    s = ThinkSplitter(mode)
    parts = [p for c in chunks for p in s.feed(c)] + s.flush()
    return ("".join(p.text for p in parts if isinstance(p, Text)),
            "".join(p.text for p in parts if isinstance(p, Reasoning)))


@pytest.mark.parametrize("cut", range(1, len(ANSWER)))
def test_tags_split_anywhere(cut):
    assert split([ANSWER[:cut], ANSWER[cut:]]) == ("The answer is 42.", "weighing options")


def test_one_char_at_a_time():
    assert split(list(ANSWER)) == ("The answer is 42.", "weighing options")


def test_newlines_inside_reasoning_stay_and_the_blocks_layout_goes():
    # As models send it (recorded: g_chat_think_stream): "<think>\n", "some reasoning", "\n</think>", ...
    assert split(["<think>\n", "line one\n", "\n", "line two", "\n</think>", "\n\nok"]) == \
        ("ok", "line one\n\nline two")


def test_modes():
    assert split([ANSWER], ReasoningMode.INLINE) == (ANSWER, "")
    assert split([ANSWER], ReasoningMode.DROP) == ("The answer is 42.", "")


def test_no_think_and_lookalikes_pass_through():
    assert split(["a <thin", "king> b", " <"]) == ("a <thinking> b <", "")


def test_unclosed_think_is_reasoning():
    assert split(["<think>still going"]) == ("", "still going")


def test_never_empty_reasoning():
    s = ThinkSplitter()
    parts = s.feed("<think>\n") + s.feed("</think>\n") + s.feed("x") + s.flush()
    assert parts == [Text("x")]


def cut(chunks, stops):
    c = StopCutter(stops)
    out = "".join(c.feed(x) for x in chunks)
    return out + ("" if c.stopped else c.flush()), c.stopped


@pytest.mark.parametrize("at", range(1, 12))
def test_stop_split_anywhere(at):
    text = "hello END world"
    assert cut([text[:at], text[at:]], ["END"]) == ("hello ", True)


def test_stop_first_of_many_and_no_match():
    assert cut(["a STOP b END"], ["END", "STOP"]) == ("a ", True)
    assert cut(["no match E", "N"], ["END"]) == ("no match EN", False)
    assert cut(["x"], []) == ("x", False)
