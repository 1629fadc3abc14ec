"""Run the fuzz target (fuzz/fuzz_imap.py) briefly on its seeds and some mutations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

FUZZ = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_imap.py"


def test_fuzz_target_on_seeds() -> None:
    spec = importlib.util.spec_from_file_location("fuzz_imap", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.fallback(iterations=500, seed=1)
