"""Memory and time of one training step of the full-scale recipe (human heads on DUNE-MASt3R).

Builds the paper's network at full size with random weights (DUNE ViT-B/14 encoder, the
MASt3R ViT-B decoders of DUNE-MASt3R, the human heads of ``config/train_full_dune_mast3r.yaml``)
and runs real training steps (``hamst3r_ros.train.loop.compute_losses`` + AdamW) on pairs from
a freshly rendered synthetic scene, with the encoder frozen as in the recipe. Weights do not
change memory or time, so no official file is needed.

    .venv/bin/python bench/bench_train_memory.py [--device cuda] [--batch 1 2 4] [--crop 518 392]

Prints a table: parameters (all / trained), batch, peak memory, seconds per step. On CUDA the
peak is ``torch.cuda.max_memory_allocated`` (float32 weights, float32 compute); on CPU it is
the process's peak resident memory minus its resident memory before the network was built
(batch sizes run in ascending order, so each row is that batch's own peak): an upper bound of
what the same step needs on a GPU in float32.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.model.config import HumanHeadsConfig  # noqa: E402
from hamst3r_ros.model.hamst3r import build_model  # noqa: E402
from hamst3r_ros.train.data import PairSampler  # noqa: E402
from hamst3r_ros.train.loop import ENCODER_PREFIXES, TrainConfig, compute_losses  # noqa: E402

#: The recipe's human heads (config/train_full_dune_mast3r.yaml).
RECIPE_HEADS = HumanHeadsConfig(num_queries=16, hidden_dim=256, num_layers=3, num_heads=8, mask_dim=64, mask_stride=7)


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--crop", type=int, nargs=2, default=[518, 392], metavar=("W", "H"))
    ap.add_argument("--steps", type=int, default=2, help="timed steps per batch size (after one warm-up step)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    w, h = args.crop

    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_memory_"))
    scene = SyntheticScene(SceneConfig(seed=3, num_cameras=2, num_people=2, width=w, height=h))
    write_dataset(tmp / "set", scene, scene.framesets(2), progress=False)
    sampler = PairSampler([(tmp / "set", True)], [(w, h)], 1.0, 1, 0.2, seed=0, max_matches=1024)

    base = _rss_peak_mib()
    net = build_model({"name": "dune_mast3r_vitb14", "human": asdict(RECIPE_HEADS)}, seed=0).net.to(dev).train()
    cfg = TrainConfig(train_sets=[{"path": str(tmp / "set")}], train_encoder=False)
    params = [p for n, p in net.named_parameters() if not n.startswith(ENCODER_PREFIXES)]
    n_all = sum(p.numel() for p in net.parameters())
    n_train = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=1e-4)

    rows = []
    for b in sorted(args.batch):
        if dev.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        times = []
        for k in range(args.steps + 1):
            batch = sampler.sample(b)
            t0 = time.perf_counter()
            loss, _, _ = compute_losses(net, batch, cfg, dev)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if k:
                times.append(time.perf_counter() - t0)
        peak = (torch.cuda.max_memory_allocated(dev) / 2**20) if dev.type == "cuda" else _rss_peak_mib() - base
        rows.append((b, peak, sum(times) / len(times)))

    kind = "cuda max allocated" if dev.type == "cuda" else "CPU peak RSS - baseline"
    print(f"\nfull-scale recipe step: DUNE ViT-B/14 (frozen) + DUNE-MASt3R decoders + human heads, crop {w}x{h}, "
          f"float32, {dev}")
    print(f"parameters: {n_all / 1e6:.1f} M, trained {n_train / 1e6:.1f} M (AdamW state: "
          f"{n_train * 8 / 2**20:.0f} MiB)\n")
    print(f"{'batch':>5}  {'peak MiB (' + kind + ')':>32}  {'s/step':>8}")
    for b, peak, sec in rows:
        print(f"{b:>5}  {peak:>32.0f}  {sec:>8.2f}")


if __name__ == "__main__":
    main()
