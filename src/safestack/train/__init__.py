from .config import DPOSettings, LoraSettings

__all__ = ["DPOSettings", "LoraSettings"]
