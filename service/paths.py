"""Where things are by default: the shared PMLB folder beside the repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_pmlb_root() -> Path:
    """`../shared/data/pmlb` beside the repository, where the project keeps PMLB."""
    return REPO_ROOT.parent / "shared" / "data" / "pmlb"
