from .openai_app import create_app

__all__ = ["create_app"]
