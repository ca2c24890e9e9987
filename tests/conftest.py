from __future__ import annotations

import pytest
from imaging import png_b64


@pytest.fixture(scope="session")
def image512() -> str:
    return png_b64(512, 512)
