"""Held-out evaluation of a checkpoint on synthetic datasets (``hamst3r eval``).

Every ordered pair of distinct cameras of every frame set (up to ``max_framesets`` per
dataset) is decoded at a centred crop of ``size`` and scored with
:func:`hamst3r_ros.train.metrics.evaluate_batch`.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from hamst3r_ros.synthetic.dataset import SyntheticDataset
from hamst3r_ros.train.data import collate, pair_item
from hamst3r_ros.train.metrics import PairMetrics, evaluate_batch, mean_metrics


def _training_crop(net) -> Optional[tuple[int, int]]:
    crop = getattr(net, "training_crop", None)
    return tuple(crop) if crop else None


def evaluate_net(net: torch.nn.Module, scenes: Sequence[str | Path], size: tuple[int, int],
                 max_framesets: int = 20, batch_pairs: int = 12) -> dict[str, PairMetrics]:
    """Mean metrics per dataset folder (and "all") for a network in eval mode."""
    rng = np.random.default_rng(0)
    per_set: dict[str, PairMetrics] = {}
    all_rows: list[PairMetrics] = []
    device = next(net.parameters()).device
    w, h = size
    for scene in scenes:
        ds = SyntheticDataset(scene)
        rows: list[PairMetrics] = []
        for k in range(min(len(ds), max_framesets)):
            fs = ds[k]
            cams = fs.cameras
            H, W = cams[0].depth.shape
            if w > W or h > H:
                raise ValueError(f"{scene}: eval size {w}x{h} is larger than its images ({W}x{H})")
            off = ((W - w) // 2, (H - h) // 2)
            pairs = [(i, j) for i in range(len(cams)) for j in range(len(cams)) if i != j]
            for s in range(0, len(pairs), batch_pairs):
                items = [pair_item(cams[i], cams[j], (off, off), size, rng) for i, j in pairs[s:s + batch_pairs]]
                batch = collate(items, human=True)
                with torch.no_grad():
                    from hamst3r_ros.train.loop import forward

                    heads = forward(net, batch.img1.to(device), batch.img2.to(device), False)
                rows += evaluate_batch(batch, heads)
        per_set[str(scene)] = mean_metrics(rows)
        all_rows += rows
    per_set["all"] = mean_metrics(all_rows)
    return per_set


def evaluate_checkpoint(model: Optional[str], scenes: Sequence[str | Path], size: Optional[tuple[int, int]] = None,
                        encoder: Optional[str] = None, max_framesets: int = 20) -> dict[str, PairMetrics]:
    """Load ``model`` (default: the embedded model) and evaluate it; see :func:`evaluate_net`."""
    from hamst3r_ros.model.checkpoints import load_checkpoint
    from hamst3r_ros.model.embedded import embedded_checkpoint

    path = model or str(embedded_checkpoint())
    net = load_checkpoint(path, encoder).eval()
    if size is None:
        import json

        meta = json.loads(Path(path).with_suffix(".json").read_text()) if path.endswith((".safetensors", ".json")) else {}
        crops = meta.get("training", {}).get("config", {}).get("crop_sizes")
        if not crops:
            from hamst3r_ros.model.checkpoints import CheckpointError

            raise CheckpointError(f"{path}: records no training crop size; pass --size WxH")
        size = tuple(crops[0])
    return evaluate_net(net, scenes, size, max_framesets)


def metrics_table(rows: dict[str, PairMetrics]) -> str:
    """A plain-text table: one row per dataset, one column per metric."""
    names = [f.name for f in fields(PairMetrics)]
    head = ["scenes"] + names
    body = [[Path(k).name or k] + [f"{getattr(m, n):.4f}" for n in names] for k, m in rows.items()]
    widths = [max(len(r[c]) for r in [head] + body) for c in range(len(head))]
    line = lambda r: "  ".join(v.rjust(wd) for v, wd in zip(r, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * wd for wd in widths])] + [line(r) for r in body])
