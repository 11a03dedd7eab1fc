"""The direct request: the harmful prompt as is (the baseline every other attack is compared with)."""

from ..records import user
from .base import Attack, attack


@attack("direct", "direct", "The request sent verbatim", tags=("baseline",),
        goal="Baseline: whether the bare request, with no attack, already gets harmful help")
def direct() -> Attack:
    return Attack(lambda p, rng: user(p))
