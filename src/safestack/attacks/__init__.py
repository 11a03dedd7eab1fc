from .base import ATTACKS, Attack, available, compose, make_attack, make_attacks

__all__ = ["ATTACKS", "Attack", "available", "compose", "make_attack", "make_attacks"]
