"""Images, files and audio in the new user message, checked and turned into Dify file inputs.

Dify apps receive files only through `file` / `file-list` input variables (a plugin cannot set the query's own
attachments). `https` URLs travel as `remote_url` mappings that Dify fetches; `data:` URLs and inline audio are
decoded here, checked against what their bytes really are, and uploaded as tool files (which Dify accepts in any
file variable regardless of its upload-method restrictions). A file is refused here only where Dify would refuse it
too, or where the app's declared file types say its nodes cannot use it.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openai_bridge.dify.form import AppForm, InputVariable
from openai_bridge.dify.transcript import last_user_index
from openai_bridge.errors import invalid_request
from openai_bridge.wire.chat import AudioPart, ChatCompletionRequest, FilePart, ImagePart

MAX_FILE_BYTES = 8 * 1024 * 1024  # one decoded file; the whole request is capped at 10 MB by Dify anyway
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
               "m4a": "audio/mp4", "webm": "audio/webm", "pcm16": "audio/pcm"}
# What the first bytes of a file must be for the types whose bytes can be checked.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/jpg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "image/bmp": (b"BM",),
    "application/pdf": (b"%PDF-",),
}


@dataclass(frozen=True)
class Attachment:
    param: str  # where it was in the request, for error messages
    kind: str  # Dify file type: image, document, audio, video, custom
    url: str = ""  # remote_url attachments
    content: bytes = b""  # uploaded attachments
    mimetype: str = ""
    filename: str = ""


def dify_file_type(mimetype: str) -> str:
    major = mimetype.split("/")[0]
    if major in {"image", "audio", "video"}:
        return major
    if major == "text" or mimetype in {"application/pdf", "application/msword", "application/json"} or \
            "officedocument" in mimetype or "opendocument" in mimetype:
        return "document"
    return "custom"


def _decode_base64(data: str, param: str) -> bytes:
    if len(data) * 3 // 4 > MAX_FILE_BYTES:
        raise invalid_request(f"The file in {param} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.", param,
                              "file_too_large")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_request(f"{param} is not valid base64.", param, "invalid_file") from exc


def _check_signature(content: bytes, mimetype: str, param: str) -> None:
    signatures = _SIGNATURES.get(mimetype)
    if signatures and not content.startswith(signatures):
        raise invalid_request(f"{param} says it is {mimetype}, but its bytes are not.", param, "invalid_file")
    if mimetype == "image/webp" and content[8:12] != b"WEBP":
        raise invalid_request(f"{param} says it is image/webp, but its bytes are not.", param, "invalid_file")


def _file_name(name: str, mimetype: str) -> str:
    """A client's name for a file, as Dify can store it: no folders, at most 200 characters, with an extension
    (Dify tells a file's type from it)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    if name and "." not in name.strip("."):
        name += mimetypes.guess_extension(mimetype) or ""
    return name


def parse_data_url(url: str, param: str, filename: str = "") -> Attachment:
    header, comma, data = url.partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise invalid_request(f"{param} must be a base64 data URL (data:<type>;base64,...).", param, "invalid_file")
    mimetype = header[5:-7].split(";")[0].strip().lower() or "application/octet-stream"
    content = _decode_base64(data, param)
    if not content:
        raise invalid_request(f"{param} is an empty file.", param, "invalid_file")
    _check_signature(content, mimetype, param)
    name = _file_name(filename, mimetype) or f"upload{mimetypes.guess_extension(mimetype) or '.bin'}"
    return Attachment(param, dify_file_type(mimetype), content=content, mimetype=mimetype, filename=name)


def _from_url(url: str, param: str, filename: str = "") -> Attachment:
    if url.startswith("data:"):
        return parse_data_url(url, param, filename)
    if url.startswith(("https://", "http://")):
        guessed = mimetypes.guess_type(url.split("?")[0])[0] or ""
        kind = dify_file_type(guessed) if guessed else "image"
        return Attachment(param, kind, url=url, mimetype=guessed, filename=filename)
    raise invalid_request(f"{param} must be an https URL or a data URL.", param, "invalid_file")


def _as_data_url(file_data: str, filename: str) -> str:
    # Some clients send bare base64 in file_data; the file name then tells the type.
    if file_data.startswith("data:"):
        return file_data
    return f"data:{mimetypes.guess_type(filename)[0] or 'application/octet-stream'};base64,{file_data}"


def extract_attachments(request: ChatCompletionRequest, image_names: Sequence[str] = ()) -> list[Attachment]:
    """The attachments of the newest user message (earlier turns' files reached the app on their own turn).
    `image_names`: the names of its images in order, where the client said them apart from the parts."""
    index = last_user_index(request.messages)
    content = request.messages[index].content
    if not isinstance(content, list):
        return []
    found: list[Attachment] = []
    images = 0
    for position, part in enumerate(content):
        param = f"messages[{index}].content[{position}]"
        if isinstance(part, ImagePart):
            name = image_names[images] if images < len(image_names) else ""
            images += 1
            found.append(_from_url(part.image_url.url, f"{param}.image_url.url", name))
        elif isinstance(part, FilePart):
            if part.file.file_data:
                found.append(parse_data_url(_as_data_url(part.file.file_data, part.file.filename or ""),
                                            f"{param}.file.file_data", part.file.filename or ""))
            else:
                raise invalid_request(
                    f"{param}: uploaded file ids are not supported; send the file inline as file_data.",
                    f"{param}.file", "unsupported_value")
        elif isinstance(part, AudioPart):
            mimetype = _AUDIO_MIME.get(part.input_audio.format.lower(), f"audio/{part.input_audio.format.lower()}")
            content_bytes = _decode_base64(part.input_audio.data, f"{param}.input_audio.data")
            extension = part.input_audio.format.lower()
            found.append(Attachment(f"{param}.input_audio", "audio", content=content_bytes, mimetype=mimetype,
                                    filename=f"audio.{extension}"))
    return found


def file_variable(form: AppForm, name: str) -> InputVariable | None:
    if name and not form.known:
        return InputVariable(name, "file-list", max_files=10)  # trust the admin's setting
    if name:
        variable = form.get(name)
        return variable if variable and variable.kind in {"file", "file-list"} else None
    return next((v for v in form.variables if v.kind in {"file", "file-list"}), None)


def check_fits(attachments: list[Attachment], form: AppForm, variable: InputVariable | None,
               variable_name: str) -> None:
    if not attachments:
        return
    first = attachments[0]
    if not form.known and variable is None:
        raise invalid_request(
            f"Could not learn the Dify app's inputs, so the file in {first.param} has nowhere to go. Ask the "
            "admin to set the endpoint's File Input Variable.", first.param, "unsupported_file")
    if not form.known:
        return
    if variable is None:
        missing = f"input variable named '{variable_name}' of type file or file-list" if variable_name \
            else "file or file-list input variable"
        raise invalid_request(
            f"The Dify app cannot receive the file in {first.param}: it has no {missing}. Add one to the app, "
            "or send text only.", first.param, "unsupported_file")
    limit = variable.max_files if variable.kind == "file-list" else 1
    if len(attachments) > limit:
        raise invalid_request(f"The app's input '{variable.name}' takes at most {limit} file(s); this message has "
                              f"{len(attachments)}.", attachments[limit].param, "too_many_files")
    for attachment in attachments:
        if variable.allowed_types and attachment.kind not in variable.allowed_types and \
                "custom" not in variable.allowed_types:
            raise invalid_request(
                f"The app's input '{variable.name}' accepts {', '.join(variable.allowed_types)} files, not "
                f"{attachment.kind} ({attachment.param}).", attachment.param, "unsupported_file")
        # Dify checks an image's transfer method only against an image config, which input variables do not
        # have, and lets tool files (the uploads) through whatever the method list says; other URLs it checks.
        if attachment.url and attachment.kind != "image" and variable.allowed_methods and \
                "remote_url" not in variable.allowed_methods:
            raise invalid_request(
                f"The app's input '{variable.name}' does not accept file URLs; send {attachment.param} inline as "
                "a data URL instead.", attachment.param, "unsupported_file")


def to_file_mappings(attachments: list[Attachment],
                     upload: Callable[[str, bytes, str], dict[str, str]]) -> list[dict[str, Any]]:
    """Dify's file mappings for the attachments, uploading inline files with `upload(filename, bytes, mimetype)`,
    which answers the reference Dify knows the stored file by (its transfer method and id)."""
    mappings: list[dict[str, Any]] = []
    for attachment in attachments:
        if attachment.url:
            mappings.append({"type": attachment.kind, "transfer_method": "remote_url", "url": attachment.url})
        else:
            mappings.append({"type": attachment.kind,
                             **upload(attachment.filename, attachment.content, attachment.mimetype)})
    return mappings


def as_input(variable: InputVariable, mappings: list[dict[str, Any]]) -> dict[str, Any]:
    """The value of a file or file-list input variable holding these files."""
    return {variable.name: mappings if variable.kind == "file-list" else mappings[0]}


def accepts_query_files(form: AppForm) -> bool:
    """Whether the app takes files with the query itself (`sys.files`): its file upload feature is on."""
    upload = form.file_upload
    image = upload.get("image")
    return bool(upload.get("enabled") or (isinstance(image, Mapping) and image.get("enabled")))
