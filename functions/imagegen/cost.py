"""What a request costs at the provider's published prices (the registry's ``Price``).

An estimate is made before the model is called (a budget reserves it) and the cost is settled
after: Bedrock bills every image a model generates and every call of an image service. A call
the provider refused (a throttle, an invalid request, a prompt its filter blocked before
generating) makes nothing and is not billed; an image generated and then withheld by an output
filter was generated, and counts (the safe side: whether it is billed is not published).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .request import BuiltRequest


@dataclass(frozen=True)
class Cost:
    """``usd`` for ``images`` made by ``model`` (rounded to a hundredth of a cent)."""

    usd: float
    model: str
    images: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def nothing(cls, model: str) -> Cost:
        return cls(0.0, model, 0)


def estimate(built: BuiltRequest) -> Cost:
    """The most ``built`` can cost: every image it asks for, at its size and quality."""
    return _priced(built, calls=len(built.bodies) or 1, images=built.requested)


def settled(built: BuiltRequest, calls_answered: int) -> Cost:
    """What ``calls_answered`` of ``built``'s calls cost once answered (filtered or not)."""
    calls = len(built.bodies) or 1
    images = built.requested if calls_answered >= calls else calls_answered * max(built.requested // calls, 1)
    return _priced(built, calls=calls_answered, images=images)


def _priced(built: BuiltRequest, *, calls: int, images: int) -> Cost:
    price = built.spec.price
    if price is None or calls == 0:
        return Cost.nothing(built.model)
    if price.per == "call":
        return Cost(round(price.usd * calls, 4), built.model, images)
    size = built.output_size
    pixels = size[0] * size[1] if size else None
    each = price.of_image(pixels, "premium" if built.premium else "standard")
    return Cost(round(each * images, 4), built.model, images)
