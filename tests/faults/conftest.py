"""Shared pieces of the fault tests: small random artifacts (a few MB) so each iteration is fast."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def small_artifacts(tmp_path) -> dict[str, Path]:
    src = tmp_path / "src"
    (src / "saved_model" / "variables").mkdir(parents=True)
    (src / "model.keras").write_bytes(os.urandom(2 << 20))
    (src / "saved_model" / "saved_model.pb").write_bytes(os.urandom(1 << 20))
    (src / "saved_model" / "variables" / "variables.index").write_bytes(b"idx")
    return {"model.keras": src / "model.keras", "saved_model": src / "saved_model"}
