"""Small pictures for the lesson-image tests, drawn with Pillow (a dev dependency)."""

from __future__ import annotations

import io

from PIL import Image


def picture(kind: str = "PNG", size: tuple[int, int] = (40, 30), colour: str = "#1a7f37") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=kind)
    return buffer.getvalue()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)
