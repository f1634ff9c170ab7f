"""`POST /v1/files/upload` and the request's `files`, as Dify's Service API handles them.

An upload is an UploadFile record (fields/file_fields.py: id, name, size, extension without its dot, mime_type,
created_by, created_at, preview_url, source_url); its source_url is signed like Dify's file previews
(`/files/<id>/file-preview?timestamp=&nonce=&sign=`) and served by the emulator. A request's `files` become the
run's files (sys.files) only when the app's file_upload feature is enabled: with it off Dify drops them silently
(FileUploadConfigManager.convert gives no config). With it on, each mapping must fit the config
(file_factory's `is_file_valid_with_config`: the type among allowed_file_types, a custom file's extension among
allowed_file_extensions, the transfer method among the allowed ones), else "File validation failed for file: NAME".
"""

import base64
import hashlib
import hmac
import io
import mimetypes
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from ..errors import BackwardsError
from ..inputs import DifyFile, FileSources, build_file
from .errors import ServiceError, from_backwards, invalid_param

PREVIEW_PREFIX = "/files/"
PREVIEW_SUFFIX = "/file-preview"


class UploadedFiles:
    """The files uploaded through the Service API; an app run finds them by id (the ToolFiles protocol)."""

    def __init__(self, server_url: Callable[[], str]) -> None:
        self._server_url = server_url
        self._lock = threading.Lock()
        self._signing_key = secrets.token_bytes(32)
        self.files: list[dict[str, Any]] = []

    def add(self, name: str, mimetype: str, content: bytes, created_by: str) -> dict[str, Any]:
        """Keep an upload; its record as Dify returns it."""
        extension = PurePosixPath(name).suffix or mimetypes.guess_extension(mimetype) or ".bin"
        file = {"id": str(uuid.uuid4()), "name": name, "size": len(content), "mimetype": mimetype,
                "content": content, "extension": extension, "created_by": created_by,
                "created_at": int(time.time())}
        with self._lock:
            self.files.append(file)
        return {"id": file["id"], "name": name, "size": len(content), "extension": extension.lstrip("."),
                "mime_type": mimetype, "created_by": created_by, "created_at": file["created_at"],
                "preview_url": None, "source_url": self.signed_url(file)}

    def get(self, file_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((f for f in self.files if f["id"] == file_id), None)

    def signed_url(self, file: dict[str, Any]) -> str:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        sign = base64.urlsafe_b64encode(hmac.new(
            self._signing_key, f"file-preview|{file['id']}|{timestamp}|{nonce}".encode(), hashlib.sha256).digest())
        return (f"{self._server_url()}{PREVIEW_PREFIX}{file['id']}{PREVIEW_SUFFIX}?timestamp={timestamp}"
                f"&nonce={nonce}&sign={sign.decode()}")


def parse_form(content_type: str, body: bytes) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """A multipart/form-data body's fields and files (both empty for anything else)."""
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary")
    if mimetype != "multipart/form-data" or not boundary:
        return MultiDict(), MultiDict()
    try:
        return MultiPartParser().parse(io.BytesIO(body), boundary.encode(), len(body))
    except ValueError:
        return MultiDict(), MultiDict()


def uploaded_part(files: MultiDict[str, FileStorage]) -> FileStorage:
    """The one `file` part, checked in the controller's order."""
    if "file" not in files:
        raise ServiceError(400, "no_file_uploaded", "Please upload your file.")
    part = files["file"]
    if not part.mimetype:
        raise ServiceError(415, "unsupported_file_type", "File type not allowed.")
    if len(files) > 1:
        raise ServiceError(400, "too_many_files", "Only one file is allowed.")
    if not part.filename:
        raise ServiceError(400, "filename_not_exists_error", "The specified filename does not exist.")
    return part


def request_files(parameters: Mapping[str, Any], mappings: Sequence[Mapping[str, Any]] | None,
                  sources: FileSources) -> tuple[DifyFile, ...]:
    """The request's `files` as the run holds them (sys.files), checked against the app's file_upload."""
    config = parameters.get("file_upload") or {}
    if not mappings or not config.get("enabled"):
        return ()
    limit = config.get("number_limits")
    if isinstance(limit, int) and 0 < limit < len(mappings):
        raise invalid_param(f"Number of files exceeds the maximum limit {limit}")
    built: list[Any] = []
    for mapping in mappings:
        try:
            file = build_file(mapping, sources)
        except BackwardsError as e:
            raise from_backwards(e) from None
        if not _allowed(mapping, file, config):
            raise invalid_param(f"File validation failed for file: {_filename(file)}")
        built.append(file)
    return tuple(built)


def _filename(file: Any) -> str:
    if isinstance(file, DifyFile):
        return file.filename
    return PurePosixPath(str(file.get("url") or file.get("remote_url") or "")).name


def _allowed(mapping: Mapping[str, Any], file: Any, config: Mapping[str, Any]) -> bool:
    file_type = str(mapping.get("type") or "custom")
    method = str(mapping.get("transfer_method"))
    allowed_types = config.get("allowed_file_types") or []
    if allowed_types and file_type not in allowed_types and file_type != "custom":
        return False
    extension = file.extension if isinstance(file, DifyFile) else PurePosixPath(_filename(file)).suffix
    if file_type == "custom" and config.get("allowed_file_extensions") is not None \
            and extension not in config["allowed_file_extensions"]:
        return False
    methods = (config.get("image") or {}).get("transfer_methods") if file_type == "image" else None
    methods = methods or config.get("allowed_file_upload_methods") or []
    return not methods or method in methods
