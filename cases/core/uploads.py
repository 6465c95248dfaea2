"""Checking an upload before it becomes evidence: its size, and its type from its own bytes (never
its name or the browser's claim)."""

import codecs
import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

# (media type, [(offset, bytes), ...]): every part must match. Only these types are accepted.
SIGNATURES: tuple[tuple[str, tuple[tuple[int, bytes], ...]], ...] = (
    ("image/png", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("image/jpeg", ((0, b"\xff\xd8\xff"),)),
    ("image/gif", ((0, b"GIF87a"),)),
    ("image/gif", ((0, b"GIF89a"),)),
    ("image/webp", ((0, b"RIFF"), (8, b"WEBP"))),
    ("application/pdf", ((0, b"%PDF-"),)),
)


SNIFF_BYTES = 16


TEXT_CHUNK = 1 << 16


# Plain text: UTF-8 with no control characters but tab, line feed, form feed and carriage return.
TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13} | {127}


ACCEPTED_TYPES = "a PNG, JPEG, GIF or WebP image, a PDF, or a plain-text file"


class AttachmentRejected(ValueError):
    """An upload that is empty, too large or of a type the portal does not accept."""


@dataclass(frozen=True)
class Attachment:
    """An upload that passed inspection: its measured size and sniffed type, stream at 0."""

    filename: str
    media_type: str
    size: int
    stream: BinaryIO


def clean_filename(filename: str) -> str:
    """The file's own name, without any folder a browser or client put in front of it."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip()
    return name[:255] or "attachment"


def human_size(size: int) -> str:
    return f"{size / (1 << 20):g} MiB" if size >= 1 << 20 else f"{size / 1024:g} KiB"


def sniff_media_type(stream: BinaryIO) -> str | None:
    """The media type the file's bytes show (never the name or the browser's claim), or None."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    for media_type, parts in SIGNATURES:
        if all(head[offset : offset + len(magic)] == magic for offset, magic in parts):
            return media_type
    stream.seek(0)
    return "text/plain" if _is_plain_text(stream) else None


def _is_plain_text(stream: BinaryIO) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(TEXT_CHUNK):
            if any(ord(c) in TEXT_CONTROLS for c in decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def inspect_attachment(stream: BinaryIO, *, filename: str, max_bytes: int) -> Attachment:
    """Measure and sniff an upload; AttachmentRejected says why it cannot be accepted."""
    name = clean_filename(filename)
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    if size == 0:
        raise AttachmentRejected(f"{name} is empty.")
    if size > max_bytes:
        raise AttachmentRejected(f"{name} is larger than {human_size(max_bytes)}.")
    media_type = sniff_media_type(stream)
    stream.seek(0)
    if media_type is None:
        raise AttachmentRejected(f"{name} is not {ACCEPTED_TYPES}.")
    return Attachment(filename=name, media_type=media_type, size=size, stream=stream)
