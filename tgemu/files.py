"""Files: what is uploaded or sent by file_id is stored, and described as the Bot API does
(photo sizes, documents, videos); getFile and profile photos."""

from __future__ import annotations

import mimetypes
import secrets
from typing import Any

from .base import EmulatorBase
from .spec import UploadedFile, bad_request
from .world import (
    _image_size,
    _StoredFile,
)


class FilesMixin(EmulatorBase):
    """Uploads and file_ids become stored files, described and served as Telegram does."""

    def _store_file(self, value: Any, kind: str) -> _StoredFile:
        if isinstance(value, UploadedFile):
            n = next(self._ids)
            guessed = mimetypes.guess_type(value.filename)[0]
            mime = guessed or value.content_type or "application/octet-stream"
            extension = mimetypes.guess_extension(mime) or ""
            if kind == "photo":
                extension = ".jpg" if extension in ("", ".jpe", ".jpeg") else extension
            stored = _StoredFile(
                file_id=f"EMU-{kind}-{n}-{secrets.token_hex(8)}",
                file_unique_id=f"EMUu{n}{secrets.token_hex(3)}",
                file_path=f"{kind}s/file_{n}{extension}",
                data=value.data,
                mime_type=mime,
                file_name=value.filename,
            )
            size = _image_size(value.data) if kind == "photo" else None
            stored.width, stored.height = size if size is not None else (100, 100)
        elif isinstance(value, str) and value in self._files:
            return self._files[value]
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            n = next(self._ids)
            name = value.rsplit("/", 1)[-1] or f"file_{n}"
            stored = _StoredFile(
                file_id=f"EMU-{kind}-{n}-{secrets.token_hex(8)}",
                file_unique_id=f"EMUu{n}{secrets.token_hex(3)}",
                file_path=f"{kind}s/file_{n}",
                data=b"",
                mime_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                file_name=name,
                url=value,
                width=100,
                height=100,
            )
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _photo_sizes(self, stored: _StoredFile) -> list[dict[str, Any]]:
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": stored.width or 100,
                "height": stored.height or 100,
                "file_size": len(stored.data),
            }
        ]

    def _document(self, stored: _StoredFile) -> dict[str, Any]:
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "mime_type": stored.mime_type,
            "file_size": len(stored.data),
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        return document

    def _video(self, stored: _StoredFile) -> dict[str, Any]:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width or 100,
            "height": stored.height or 100,
            "duration": stored.duration or 0,
            "mime_type": stored.mime_type,
            "file_size": len(stored.data),
        }

    def _api_getUserProfilePhotos(self, p: dict[str, Any]) -> dict[str, Any]:
        self._any_user(p["user_id"])
        return {"total_count": 0, "photos": []}

    # -- files -----------------------------------------------------------------------------
    def _api_getFile(self, p: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(p["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }
