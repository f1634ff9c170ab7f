"""Settings that rename the app's variables, and memory in workflow apps (which have no conversations)."""

from __future__ import annotations

import base64

from .conftest import scenario


def app_calls(emu):
    return [r["request"] for r in emu.records if r["type"] == "app"]


def test_renamed_variables(emu, client):
    form = {"user_input_form": [
        {"paragraph": {"variable": "instructions", "label": "Instructions", "required": False}},
        {"paragraph": {"variable": "question", "label": "Question", "required": True}},
        {"file": {"variable": "cover", "label": "Cover", "required": False}},
        {"file-list": {"variable": "docs", "label": "Docs", "required": False, "max_length": 2}},
    ]}
    emu.load_scenario(scenario(mode="workflow", parameters=form, system_prompt_variable="instructions",
                               query_variable="question", file_variable="docs"))
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
    client.chat.completions.create(model="m", messages=[
        {"role": "system", "content": "Be formal."},
        {"role": "user", "content": [{"type": "text", "text": "Review this"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]},
    ])
    inputs = app_calls(emu)[-1]["inputs"]
    assert inputs["instructions"] == "Be formal." and inputs["question"] == "Review this"
    assert inputs["docs"][0]["transfer_method"] == "tool_file" and "cover" not in inputs


def test_conversation_mode_in_a_workflow_app_sends_the_history(emu, client):
    form = {"user_input_form": [{"paragraph": {"variable": "query", "label": "Query", "required": True}}]}
    emu.load_scenario(scenario(mode="workflow", parameters=form, memory_mode="conversation"))
    first = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "first question"}])
    client.chat.completions.create(model="m", messages=[
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "second question"}])
    second = app_calls(emu)[-1]
    assert "first question" in second["inputs"]["query"] and second["inputs"]["query"].endswith("second question")
