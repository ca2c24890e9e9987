"""Hypothesis strategies for what a client might send: request-shaped JSON with image-ish values."""

from __future__ import annotations

import base64

from hypothesis import strategies as st
from imaging import png_b64

from imagegen.schema import TASK_MODELS

# Every field any task request accepts, as the client spells it.
FIELDS = sorted({field.alias or name for model in TASK_MODELS.values() for name, field in model.model_fields.items()})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
image_values = st.one_of(
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b"\x89PNG\r\n\x1a\n" + b).decode()),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b"\xff\xd8\xff" + b).decode()),
    st.sampled_from([png_b64(320, 320), "s3://inputs/a.png", "data:image/png;base64,"]),
)
payloads = (
    st.dictionaries(
        st.sampled_from(FIELDS) | st.text(max_size=8),
        json_values | image_values | st.lists(image_values, max_size=3),
        max_size=8,
    )
    | json_values
)
