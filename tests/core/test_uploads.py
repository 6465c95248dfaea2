"""Attachment inspection: the type comes from the bytes, never from the name or the browser."""

import io

import pytest

from cases.core.uploads import (
    AttachmentRejected,
    clean_filename,
    inspect_attachment,
    sniff_media_type,
)

SAMPLES = [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
    (b"GIF87a\x01\x00\x01\x00", "image/gif"),
    (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    ("Plain words, accents é and emoji 🙂\r\n\ttabbed\f".encode(), "text/plain"),
    ("é".encode() * 40_000, "text/plain"),  # multi-byte characters across read chunks
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),  # RIFF, but audio
    (b"PK\x03\x04\x14\x00\x00\x00", None),  # zip (also docx, apk …)
    (b"\x7fELF\x02\x01\x01\x00", None),
    (b"<svg onload=alert(1)>\x00", None),
    (b"caf\xe9 in Latin-1", None),  # not UTF-8
    (b"text with a bell \x07 in it", None),
]


@pytest.mark.parametrize(("content", "media_type"), SAMPLES)
def test_the_media_type_is_sniffed_from_the_bytes(content, media_type):
    assert sniff_media_type(io.BytesIO(content)) == media_type


def test_an_accepted_upload_is_measured_and_rewound():
    stream = io.BytesIO(SAMPLES[0][0])
    attachment = inspect_attachment(stream, filename="C:\\Users\\me\\shot.png", max_bytes=1024)
    assert (attachment.filename, attachment.media_type, attachment.size) == (
        "shot.png",
        "image/png",
        len(SAMPLES[0][0]),
    )
    assert attachment.stream.read() == SAMPLES[0][0]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "x.bin is empty."), (b"a" * 11, "x.bin is larger than"), (b"\x00\x01", "is not")],
)
def test_a_refused_upload_says_why(content, message):
    with pytest.raises(AttachmentRejected, match=message):
        inspect_attachment(io.BytesIO(content), filename="x.bin", max_bytes=10)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("a\\b\\c.txt", "c.txt"),
        ("", "attachment"),
        ("/", "attachment"),
    ],
)
def test_only_the_file_name_is_kept(given, kept):
    assert clean_filename(given) == kept
