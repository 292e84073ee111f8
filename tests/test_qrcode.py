"""The QR code images (handlers.views.qrcode) show, pixel for pixel, what segno's own PNG
writer draws for the same code."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import segno

from handlers.views.qrcode import BORDER, SCALE, png_of, qr_png


def _pixels(png: bytes) -> list[str]:
    """The image's rows as strings of bits (1 white), after checking its chunks' CRCs and
    undoing the filters segno uses (none and up)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    at, idat, width = 8, b"", 0
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", data[:10])
            assert (width, depth, colour) == (height, 1, 0)  # square, one bit, greyscale
        if kind == b"IDAT":
            idat += data
        at += 12 + length
    raw, row_bytes = zlib.decompress(idat), (width + 7) // 8
    rows, previous = [], bytes(row_bytes)
    for start in range(0, len(raw), row_bytes + 1):
        kind, line = raw[start], raw[start + 1 : start + 1 + row_bytes]
        if kind == 2:
            line = bytes((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        else:
            assert kind == 0
        previous = line
        rows.append("".join(f"{byte:08b}" for byte in line)[:width])
    return rows


@pytest.mark.parametrize(
    "text", ["https://t.me/ccbot_bot?start=r_K7Q2MX4P", "P-4821", "一起拼团 " * 20]
)
@pytest.mark.parametrize(("scale", "border"), [(SCALE, BORDER), (3, 2), (1, 0)])
def test_the_image_is_the_code_segno_draws(text: str, scale: int, border: int) -> None:
    code = segno.make(text, error="m", mask=0)
    theirs = io.BytesIO()
    code.save(theirs, kind="png", scale=scale, border=border)
    ours = _pixels(png_of(code.matrix, scale, border))
    assert ours == _pixels(theirs.getvalue())
    assert len(ours) == (code.symbol_size(scale=1, border=border)[0]) * scale


def test_a_link_gets_its_own_code_every_time() -> None:
    link = "https://t.me/ccbot_bot?start=r_K7Q2MX4P"
    assert qr_png(link) == qr_png(link)
    assert _pixels(qr_png(link)) != _pixels(qr_png(link + "X"))
    # a module is SCALE pixels wide, after a light border of BORDER modules
    first_dark = _pixels(qr_png(link))[BORDER * SCALE].index("0")
    assert first_dark == BORDER * SCALE
