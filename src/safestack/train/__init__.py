from .config import DPOSettings, LoraSettings, RRConfig, RRSettings

__all__ = ["DPOSettings", "LoraSettings", "RRConfig", "RRSettings"]
