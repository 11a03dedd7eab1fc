"""Matplotlib figures out: inline (a base64 data URI for the self-contained HTML) or to a PNG file."""

from __future__ import annotations

import base64
import io
from pathlib import Path


def png_uri(fig) -> str:
    """The figure as a ``data:image/png;base64,…`` URI (closes it)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def file_uri(path: str | Path) -> str:
    """A PNG file on disk as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def save_png(fig, path: str | Path) -> Path:
    """Write the figure to ``path`` (parents created; closes it)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
