"""The emulator's own app emulation against a real Dify 1.14.1 (tests/golden/recordings, the spec).

Every recording file is one step of a case in cases.json: the app (by its name in recorded_apps.json, a scenario
describing the recorded apps) and the request as Dify received it. Each case runs its steps in order against one
fresh emulated workspace, driving the app layer directly (no plugin process). What the emulator produces must
equal the recording exactly, after normalising only what differs from run to run:
- ids (UUIDs, and a signed file URL's nonce and signature; a file reference's base64 is decoded first), each
  mapped to a placeholder in order of appearance, so the same id must recur where it recurs in the recording;
- timestamps (created_at, finished_at, a signed URL's timestamp) and durations (elapsed_time, latency,
  time_to_first_token, time_to_generate), when they are numbers (a null stays null);
- sys.dialogue_count, which Dify does not count reliably (recordings/README.md), wherever the app shows it;
- for llm/ cases, token counts and prices (they depend on the prompts Dify builds, with its own templates) and
  the current_time tool's output (the time of the run).
Requests are the recorded ones: an id Dify made in an earlier step (a conversation id, a tool file id) is
replaced by the one the emulator made in the same place. HTTP failures compare the whole text the plugin
receives (status and body, byte for byte).

A step of cases.json: `recording` (a path under recordings/), `app`, and for an invocation `query`, `inputs`
({}), `conversation_id` (null), `response_mode` ("streaming"); `upload` {tool_file_id, name, mimetype, size}: a
file the plugin uploaded before the call (the recorded id stands for the emulator's); `delete_conversation`: a
recorded conversation id deleted in Dify's logs before the call. A fetch_app.* recording is an app-info fetch.
"""

import base64
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from dify_emulator.apps import AppEmulator
from dify_emulator.conversations import ConversationStore
from dify_emulator.errors import BackwardsError
from dify_emulator.records import Recorder
from dify_emulator.scenario import load_scenario
from dify_emulator.uploads import UPLOAD_PATH, UploadStore

HERE = Path(__file__).parent
RECORDINGS = HERE / "recordings"
CASES: list[list[dict[str, Any]]] = json.loads((HERE / "cases.json").read_text())
SCENARIO = load_scenario(HERE / "recorded_apps.json")
APP_IDS = {app["name"]: app_id for app_id, app in SCENARIO["apps"].items()}
FILES_URL = "http://127.0.0.1:5901"  # the recorded Dify's FILES_URL: signed file URLs start with it
HTTP_FAILURE = re.compile(r"\.http(\d{3})\.json$")

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FILE_REFERENCE = re.compile(r"^dify-file-ref:([A-Za-z0-9+/=]+)$")
SIGNED_URL_PARTS = re.compile(r"([?&](?:nonce|sign)=)([A-Za-z0-9_\-=]+)")
SIGNED_URL_TIMESTAMP = re.compile(r"([?&]timestamp=)\d+")
DIALOGUE_COUNT_TEXT = re.compile(r"dialogue_count=\d+")
TOOL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
TIMESTAMP_KEYS = frozenset({"created_at", "finished_at"})
DURATION_KEYS = frozenset({"elapsed_time", "latency", "time_to_first_token", "time_to_generate"})
USAGE_KEYS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "prompt_price", "completion_price",
                        "total_price"})


def recording_files() -> list[str]:
    """Every recorded answer: event streams, HTTP failures and app infos (daemon-requests/ are reference only)."""
    found = []
    for folder in (RECORDINGS, RECORDINGS / "llm"):
        for path in sorted(folder.iterdir()):
            if path.suffix == ".jsonl" or HTTP_FAILURE.search(path.name) or path.name.startswith("fetch_app."):
                found.append(str(path.relative_to(RECORDINGS)))
    return found


def case_name(case: list[dict[str, Any]]) -> str:
    return re.sub(r"(\.call\d+)?(\.http\d{3})?\.jsonl?$", "", Path(case[0]["recording"]).name)


class Normaliser:
    """Replaces what differs from run to run; ids get placeholders numbered by first appearance."""

    def __init__(self, llm_case: bool) -> None:
        self.llm_case = llm_case
        self.ids: dict[str, str] = {}

    def _id(self, raw: str) -> str:
        return self.ids.setdefault(raw, f"<id{len(self.ids) + 1}>")

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, Mapping):
            return self._mapping(value)
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if key in TIMESTAMP_KEYS:
                return "<timestamp>"
            if key in DURATION_KEYS:
                return "<duration>"
        return value

    def _mapping(self, value: Mapping[str, Any]) -> dict[str, Any]:
        normalised = {}
        for key, item in value.items():
            if key == "sys.dialogue_count":
                normalised[key] = "<dialogue_count>"
            elif self.llm_case and key in USAGE_KEYS:
                normalised[key] = "<usage>"
            else:
                normalised[key] = self(item, key)
        if value.get("from_variable_selector") == ["sys", "dialogue_count"]:
            normalised["answer"] = "<dialogue_count>"
        return normalised

    def _text(self, text: str) -> str:
        reference = FILE_REFERENCE.match(text)
        if reference:
            return "dify-file-ref:" + self._text(base64.b64decode(reference.group(1)).decode())
        text = SIGNED_URL_TIMESTAMP.sub(r"\1<timestamp>", text)
        text = SIGNED_URL_PARTS.sub(lambda m: m.group(1) + self._id(m.group(2)), text)
        text = UUID.sub(lambda m: self._id(m.group(0)), text)
        text = DIALOGUE_COUNT_TEXT.sub("dialogue_count=<dialogue_count>", text)
        return TOOL_TIME.sub("<time>", text) if self.llm_case else text


def read_recording(name: str) -> Any:
    """What the plugin receives: the inner events, the failure text, or fetch_app's parameters (the daemon strips
    both of Dify's `data` wrappers, calldify FetchApp)."""
    path = RECORDINGS / name
    failure = HTTP_FAILURE.search(name)
    if failure:
        body = path.read_text().rstrip("\n")
        return f"invoke app failed: request failed with status code: {failure.group(1)} and respond with: {body}"
    if name.endswith(".jsonl"):
        frames = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        frames = [json.loads(path.read_text())]
    assert all(frame["error"] == "" for frame in frames), "a frame with an error: the test cannot replay it yet"
    if path.name.startswith("fetch_app."):
        return [frame["data"]["data"] for frame in frames]
    return [frame["data"] for frame in frames]


class Workspace:
    """A fresh emulated Dify with the recorded apps, and the ids it made where the recording has Dify's."""

    def __init__(self) -> None:
        self.conversations = ConversationStore()
        self.uploads = UploadStore(Recorder(), lambda: FILES_URL)
        self.apps = AppEmulator(self.conversations, self.uploads)
        self.apps.load(SCENARIO)
        self.translation: dict[str, str] = {}  # an id in the recording -> the emulator's id in its place

    def translate(self, value: Any) -> Any:
        return json.loads(UUID.sub(lambda m: self.translation.get(m.group(0), m.group(0)), json.dumps(value)))

    def upload(self, tool_file_id: str, name: str, mimetype: str, size: int) -> None:
        [ticket] = self.uploads.sign({"filename": name, "mimetype": mimetype})
        token = ticket["url"].rsplit(UPLOAD_PATH, 1)[1]
        content = FileStorage(io.BytesIO(b"\x89PNG".ljust(size, b"\0")), filename=name, content_type=mimetype)
        boundary, body = encode_multipart({"file": content})
        status, file = self.uploads.receive(token, f"multipart/form-data; boundary={boundary}", body)
        assert status == 201, file
        self.translation[tool_file_id] = file["id"]

    def call(self, step: Mapping[str, Any]) -> Any:
        app_id = APP_IDS[step["app"]]
        if Path(step["recording"]).name.startswith("fetch_app."):
            return self.apps.fetch_app({"app_id": app_id})
        request = self.translate({"app_id": app_id, "query": step.get("query"), "inputs": step.get("inputs", {}),
                                  "response_mode": step.get("response_mode", "streaming"),
                                  "conversation_id": step.get("conversation_id"), "user": None})
        try:
            return list(self.apps.invoke(request))
        except BackwardsError as e:
            return e.message

    def learn(self, recorded: Normaliser, emulated: Normaliser) -> None:
        """Ids at the same places are the same thing: later requests use the emulator's."""
        placeholders = {placeholder: raw for raw, placeholder in emulated.ids.items()}
        for raw, placeholder in recorded.ids.items():
            if UUID.fullmatch(raw) and placeholder in placeholders:
                self.translation.setdefault(raw, placeholders[placeholder])


def test_every_recording_is_a_step_of_exactly_one_case() -> None:
    steps = [step["recording"] for case in CASES for step in case]
    assert sorted(steps) == sorted(recording_files()), "each recording needs exactly one step in cases.json"


@pytest.mark.parametrize("case", CASES, ids=case_name)
def test_emulator_matches_the_recording(case: list[dict[str, Any]]) -> None:
    workspace = Workspace()
    llm_case = case[0]["recording"].startswith("llm/")
    recorded, emulated = Normaliser(llm_case), Normaliser(llm_case)
    for step in case:
        if "upload" in step:
            workspace.upload(**step["upload"])
        if "delete_conversation" in step:
            assert workspace.conversations.delete(workspace.translate(step["delete_conversation"]))
        expected = recorded(read_recording(step["recording"]))
        actual = emulated(workspace.call(step))
        assert actual == expected, step["recording"]
        assert json.dumps(actual) == json.dumps(expected), f"{step['recording']}: same content, other key order"
        workspace.learn(recorded, emulated)
