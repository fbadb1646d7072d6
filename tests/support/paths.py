"""Where things are in the repository, for every tier."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"
ARTIFACTS = ROOT / "artifacts"
