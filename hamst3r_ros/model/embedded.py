"""The embedded default model: a small HAMSt3R trained by us on synthetic scenes only.

It ships inside the package (``hamst3r_ros/assets/``) as our checkpoint format
(safetensors + JSON config with its training recipe and held-out metrics), so that
everything user-facing runs with no checkpoint given.
"""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
EMBEDDED_STEM = "hamst3r_embedded"


def embedded_checkpoint() -> Path:
    """Path of the embedded model's ``.safetensors`` (its ``.json`` lies beside it)."""
    path = ASSETS / f"{EMBEDDED_STEM}.safetensors"
    if not path.is_file() or not path.with_suffix(".json").is_file():
        raise FileNotFoundError(
            f"{path}: the embedded default model is not in this checkout; train it with "
            f"`hamst3r train config/train_embedded_stage1.yaml`, then `..._stage2.yaml` ... `..._stage6.yaml` "
            f"and `config/train_embedded.yaml`, then "
            f"`hamst3r export runs/embedded_stage7/last {ASSETS}/{EMBEDDED_STEM} --fp16`, "
            f"or give a checkpoint explicitly")
    return path
