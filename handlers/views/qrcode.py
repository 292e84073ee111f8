"""QR codes as PNG images, drawn here: segno lays out the code, this module writes the image.

segno's own PNG writer works pixel by pixel in Python and took three quarters of the 6 ms an
invite's QR code cost. A QR code is black and white squares, so the image is one bit per
pixel, and each row of squares is the same row of pixels `scale` times: a row is built once
from the code's row of modules and repeated.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Sequence

import segno

SCALE = 8  # pixels per module
BORDER = 4  # modules of white around the code (the quiet zone QR readers need)


@functools.lru_cache(maxsize=1024)
def qr_png(text: str) -> bytes:
    """A QR code of the text as a PNG image, remembered (a member's link never changes). The
    mask is fixed: choosing the best of eight took most of segno's time, and any mask scans."""
    return png_of(segno.make(text, error="m", mask=0).matrix, SCALE, BORDER)


def png_of(matrix: Sequence[Sequence[int]], scale: int, border: int) -> bytes:
    """A one-bit greyscale PNG of the modules (1 is dark), `scale` pixels a module, with
    `border` light modules around."""
    modules = len(matrix) + 2 * border
    width = modules * scale
    row_bytes = (width + 7) // 8
    padding = row_bytes * 8 - width

    def pixels(row: Sequence[int]) -> bytes:
        # a PNG greyscale bit is 1 for white; the bits past the width are padding
        bits = "".join(("0" if dark else "1") * scale for dark in row) + "1" * padding
        return b"\x00" + int(bits, 2).to_bytes(row_bytes, "big")  # filter type 0: none

    light = pixels([0] * modules) * (border * scale)
    body = b"".join(pixels([0] * border + list(row) + [0] * border) * scale for row in matrix)
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(light + body + light)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
