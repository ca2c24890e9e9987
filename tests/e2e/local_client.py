"""Reading what the local stack serves."""

from __future__ import annotations

import io
import urllib.request

from PIL import Image


def fetch_image(url: str) -> Image.Image:
    with urllib.request.urlopen(url, timeout=10) as response:
        image = Image.open(io.BytesIO(response.read()))
        image.load()
        return image


def fetch_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()
