from .base import ATTACKS, Attack, available, compose, make_attack, make_attacks
from .manyshot import many_shot_sweep

__all__ = ["ATTACKS", "Attack", "available", "compose", "make_attack", "make_attacks", "many_shot_sweep"]
