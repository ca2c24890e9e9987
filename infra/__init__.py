"""CDK infrastructure: one construct per concern, composed by ``ImageGenStack``.

The functions' environment variable names (``core.config``), route table (``core.routes``)
and model registry (``imagegen.registry``) are imported from the function code, never copied.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
HANDLERS_DIR = FUNCTIONS_DIR / "handlers"

for _path in (str(FUNCTIONS_DIR), str(HANDLERS_DIR)):
    if _path not in sys.path:
        sys.path.append(_path)
