"""System prompts into inputs or the query, extra inputs, required inputs, and file parts."""

import base64
import json

import pytest

from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing

from .fakes import SETTINGS, FakeDify, chat_events, post

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4 test"


def form(*variables):
    return {"user_input_form": list(variables)}


def text_var(name, required=False):
    return {"text-input": {"variable": name, "label": name, "required": required}}


def files_var(name, kind="file-list", **extra):
    return {kind: {"variable": name, "label": name, "required": False, **extra}}


def ask(dify, messages, settings=SETTINGS, **extra):
    dify.events = chat_events("ok")
    response = handle(post("/chat/completions", {"model": "m", "messages": messages, **extra}), settings, dify,
                      AppFormCache(), Timing(1.0, 1.0))
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return response, json.loads(body) if body.startswith(b"{") else body


def data_url(mime, content):
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


def test_system_prompt_into_declared_variable():
    dify = FakeDify(parameters=form(text_var("system_prompt")))
    ask(dify, [{"role": "developer", "content": "be terse"}, {"role": "user", "content": "hi"}])
    assert dify.calls[0]["inputs"]["system_prompt"] == "be terse" and dify.calls[0]["query"] == "hi"


def test_system_prompt_into_query_otherwise():
    dify = FakeDify()
    ask(dify, [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"}])
    assert dify.calls[0]["query"] == "[System instructions]\nbe terse\n\n[User message]\nhi"


def test_extra_inputs_app_inputs_and_seed_messages_input():
    dify = FakeDify(parameters=form(text_var("lang"), text_var("messages")))
    settings = {**SETTINGS, "app_id": {**SETTINGS["app_id"], "inputs": {"lang": "en", "tone": "dry"}}}
    ask(dify, [{"role": "user", "content": "hi"}], settings=settings, inputs={"lang": "fr"})
    inputs = dify.calls[0]["inputs"]
    assert inputs["lang"] == "fr" and inputs["tone"] == "dry"
    assert json.loads(inputs["messages"]) == [{"role": "user", "content": "hi"}]


def test_missing_required_input_is_400_naming_it():
    dify = FakeDify(parameters=form(text_var("customer", required=True)))
    response, body = ask(dify, [{"role": "user", "content": "hi"}])
    assert response.status == 400 and body["error"]["param"] == "inputs.customer" and not dify.calls


def test_workflow_query_variable():
    dify = FakeDify(parameters=form(text_var("query", required=True)))
    ask(dify, [{"role": "user", "content": "summarise"}])
    assert dify.calls[0]["inputs"]["query"] == "summarise"


def test_data_url_image_uploaded_into_first_file_variable():
    dify = FakeDify(parameters=form(text_var("x"), files_var("pics")))
    ask(dify, [{"role": "user", "content": [{"type": "text", "text": "what is this"},
                                            {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}}]}])
    assert dify.uploads == [("upload.png", PNG, "image/png")]
    assert dify.calls[0]["inputs"]["pics"] == [{"type": "image", "transfer_method": "tool_file",
                                                "tool_file_id": "file-1"}]
    assert dify.calls[0]["query"] == "what is this"


def test_https_image_is_remote_url_in_single_file_variable():
    dify = FakeDify(parameters=form(files_var("pic", kind="file")))
    ask(dify, [{"role": "user", "content": [{"type": "text", "text": "see"},
                                            {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}]}])
    assert dify.calls[0]["inputs"]["pic"] == {"type": "image", "transfer_method": "remote_url",
                                              "url": "https://x.test/a.jpg"}
    assert not dify.uploads


def test_pdf_file_part_and_audio():
    dify = FakeDify(parameters=form(files_var("docs", file_variable=None)))
    ask(dify, [{"role": "user", "content": [
        {"type": "text", "text": "read"},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": data_url("application/pdf", PDF)}},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"RIFF....WAVE").decode(), "format": "wav"}},
    ]}])
    assert [(u[0], u[2]) for u in dify.uploads] == [("a.pdf", "application/pdf"), ("audio.wav", "audio/wav")]
    assert [m["type"] for m in dify.calls[0]["inputs"]["docs"]] == ["document", "audio"]


@pytest.mark.parametrize(("parameters", "part", "code"), [
    (form(text_var("x")), {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}, "unsupported_file"),
    (form(files_var("p")), {"type": "image_url", "image_url": {"url": data_url("image/png", b"not a png")}},
     "invalid_file"),
    (form(files_var("p")), {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}, "invalid_file"),
    (form(files_var("p")), {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}, "invalid_file"),
    (form(files_var("p", allowed_file_types=["document"])),
     {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}}, "unsupported_file"),
    (form(files_var("p", allowed_file_upload_methods=["local_file"])),
     {"type": "image_url", "image_url": {"url": "https://x.test/a.pdf"}}, "unsupported_file"),
    (form(files_var("p")), {"type": "file", "file": {"file_id": "file-abc"}}, "unsupported_value"),
])
def test_file_rejections_name_the_part(parameters, part, code):
    dify = FakeDify(parameters=parameters)
    response, body = ask(dify, [{"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert response.status == 400 and body["error"]["code"] == code
    assert body["error"]["param"].startswith("messages[0].content[1]")
    assert not dify.calls


def test_too_many_files_for_single_variable():
    dify = FakeDify(parameters=form(files_var("p", kind="file")))
    image = {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    response, body = ask(dify, [{"role": "user", "content": [{"type": "text", "text": "x"}, image, image]}])
    assert response.status == 400 and body["error"]["code"] == "too_many_files"


def test_files_mid_thread_stay_in_the_conversation():
    # Dify validates and uses inputs on every turn, files included (recorded: direct_file_input_on_continued_...).
    dify = FakeDify(parameters=form(files_var("p")))
    conv = {**SETTINGS, "memory_mode": "conversation"}
    ask(dify, [{"role": "user", "content": "one"}], settings=conv)
    ask(dify, [{"role": "user", "content": "one"}, {"role": "assistant", "content": "ok"},
               {"role": "user", "content": [{"type": "text", "text": "look"},
                                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}],
        settings=conv)
    second = dify.calls[1]
    assert second["conversation_id"] == "c0ffee00-0000-4000-8000-000000000001" and second["query"] == "look"
    assert second["inputs"]["p"] == [{"type": "image", "transfer_method": "remote_url", "url": "https://x.test/a.png"}]


def test_changed_inputs_reach_the_app_mid_thread():
    dify = FakeDify(parameters=form(text_var("tag")))
    conv = {**SETTINGS, "memory_mode": "conversation"}
    ask(dify, [{"role": "user", "content": "one"}], settings=conv, inputs={"tag": "A"})
    ask(dify, [{"role": "user", "content": "one"}, {"role": "assistant", "content": "ok"},
               {"role": "user", "content": "two"}], settings=conv, inputs={"tag": "B"})
    assert dify.calls[1]["conversation_id"] is not None and dify.calls[1]["inputs"]["tag"] == "B"


def test_image_urls_are_not_method_checked_as_dify_does_not():
    # Dify checks an image's transfer method only against an image config, which input variables lack; the
    # recorded c_sysprompt_file form lists methods, and a narrower list must not refuse an image URL either.
    local_only = files_var("pic", kind="file", allowed_file_types=["image", "document"],
                           allowed_file_upload_methods=["local_file"])
    dify = FakeDify(parameters=form(local_only))
    image = {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}}
    response, _ = ask(dify, [{"role": "user", "content": [{"type": "text", "text": "x"}, image]}])
    assert response.status == 200
    assert dify.calls[0]["inputs"]["pic"] == {"type": "image", "transfer_method": "remote_url",
                                              "url": "https://x.test/cat.png"}
    document = {"type": "image_url", "image_url": {"url": "https://x.test/report.pdf"}}
    response, body = ask(dify, [{"role": "user", "content": [{"type": "text", "text": "x"}, document]}])
    assert response.status == 400 and body["error"]["code"] == "unsupported_file"
