from .taxonomy import Category, Taxonomy, load_taxonomy

__all__ = ["Category", "Taxonomy", "load_taxonomy"]
