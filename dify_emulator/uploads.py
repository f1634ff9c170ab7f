"""`session.file.upload`: the backwards `upload_file` hands out a URL served by the emulator itself; the
plugin POSTs the file there (multipart field `file`) and expects 201 with the tool file's JSON.

The uploaded files are Dify's tool files: an app run finds them by id, and shows them with a signed URL
built as Dify builds it from FILES_URL (`/files/tools/<id><extension>?timestamp=&nonce=&sign=`).
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
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from .records import Recorder

UPLOAD_PATH = "/files/upload/"
PREVIEW_PATH = "/files/tools/"


def file_type(mimetype: str) -> str:
    """Dify's file type for a mimetype (as the SDK's UploadFileResponse.Type.from_mime_type)."""
    for prefix in ("image", "video", "audio"):
        if mimetype.startswith(prefix + "/"):
            return prefix
    return "document"


class UploadStore:
    def __init__(self, recorder: Recorder, base_url: Callable[[], str]) -> None:
        self._recorder = recorder
        self._base_url = base_url
        self._lock = threading.Lock()
        # token -> the upload_file request it was signed for; a token is good for one upload.
        self._tickets: dict[str, dict[str, Any]] = {}
        self._signing_key = secrets.token_bytes(32)
        self.files: list[dict[str, Any]] = []
        # Dify builds the signed URL from INTERNAL_FILES_URL or FILES_URL; "" plays a Dify where both are unset
        # (the default of its docker .env), whose URL has no host. None: the emulator's own address.
        self.files_url: str | None = None

    def sign(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """The backwards `upload_file` invocation: a one-time upload URL."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._tickets[token] = request
        base = self._base_url() if self.files_url is None else self.files_url
        return [{"url": f"{base}{UPLOAD_PATH}{token}"}]

    def receive(self, token: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The plugin's POST to a signed URL: (HTTP status, JSON body)."""
        with self._lock:
            request = self._tickets.pop(token, None)
        if request is None:
            return 403, {"code": "forbidden", "message": "Invalid request.", "status": 403}
        part = _file_part(content_type, body)
        if part is None:
            return 400, {"code": "no_file_uploaded", "message": "Please upload your file.", "status": 400}
        name = part.filename or request.get("filename") or "file"
        mimetype = part.mimetype or request.get("mimetype") or "application/octet-stream"
        content = part.read()
        extension = PurePosixPath(name).suffix or mimetypes.guess_extension(mimetype) or ".bin"
        file_id = str(uuid.uuid4())
        with self._lock:
            self.files.append(
                {"id": file_id, "name": name, "size": len(content), "mimetype": mimetype, "content": content,
                 "extension": extension}
            )
        self._recorder.add(
            {"type": "upload_file", "request": request,
             "file": {"name": name, "size": len(content), "mimetype": mimetype}}
        )
        return 201, {
            "id": file_id,
            "name": name,
            "size": len(content),
            "extension": extension,
            "mime_type": mimetype,
            "type": file_type(mimetype),
            "preview_url": f"{self._base_url()}{PREVIEW_PATH}{file_id}{extension}",
        }

    def get(self, file_id: str) -> dict[str, Any] | None:
        """The uploaded file with this tool file id."""
        with self._lock:
            return next((f for f in self.files if f["id"] == file_id), None)

    def signed_url(self, file: dict[str, Any]) -> str:
        """A fresh signed URL of an uploaded file, as Dify signs tool file URLs (a new nonce every time)."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        message = f"file-preview|{file['id']}|{timestamp}|{nonce}".encode()
        sign = base64.urlsafe_b64encode(hmac.new(self._signing_key, message, hashlib.sha256).digest()).decode()
        return f"{self._base_url()}{PREVIEW_PATH}{file['id']}{file['extension']}?timestamp={timestamp}" \
               f"&nonce={nonce}&sign={sign}"

    def find(self, preview_name: str) -> dict[str, Any] | None:
        """The uploaded file behind a preview URL's last segment (`<id><extension>`)."""
        with self._lock:
            return next((f for f in self.files if f["id"] + f["extension"] == preview_name), None)


def _file_part(content_type: str, body: bytes) -> Any:
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary")
    if mimetype != "multipart/form-data" or not boundary:
        return None
    try:
        _, files = MultiPartParser().parse(io.BytesIO(body), boundary.encode(), len(body))
    except ValueError:
        return None
    return files.get("file")
