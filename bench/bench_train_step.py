"""Training step speed, float32 against bf16 autocast, on the same networks and batches.

    .venv/bin/python bench/bench_train_step.py [--networks hamst3r_small hamst3r_conv]
        [--threads 2] [--batch 6] [--crop 224 160] [--steps 5] [--agree-steps 20]

For each network: the seconds of one full training step (``compute_losses`` forward, backward,
gradient clipping, AdamW) in float32 and in bf16 autocast, timed over ``--steps`` steps after a
warm-up, on a fixed list of batches from a freshly rendered synthetic scene; then the loss
curves of both precisions from the same initial weights over ``--agree-steps`` steps (the
largest relative difference of the total loss). The table says whether this CPU has fast bf16
(AMX-BF16 / AVX512-BF16): without them torch emulates bf16 and it is slower than float32, which
is why ``precision: auto`` trains in float32 there.
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.model.hamst3r import build_model  # noqa: E402
from hamst3r_ros.model.precision import autocast, cpu_flags, cpu_has_fast_bf16, FAST_BF16_CPU_FLAGS  # noqa: E402
from hamst3r_ros.train.data import PairSampler  # noqa: E402
from hamst3r_ros.train.loop import TrainConfig, compute_losses  # noqa: E402


def _steps(net, batches, cfg, precision: str) -> tuple[list[float], list[float]]:
    """Train ``net`` on ``batches`` in ``precision``: (seconds per step, total loss per step)."""
    params = [p for p in net.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    times, losses = [], []
    for b in batches:
        t = time.perf_counter()
        with autocast("cpu", precision):
            loss, logs, _ = compute_losses(net, b, cfg, torch.device("cpu"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t)
        losses.append(logs.total)
    return times, losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", nargs="+", default=["hamst3r_small", "hamst3r_conv"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--crop", type=int, nargs=2, default=[224, 160], metavar=("W", "H"))
    ap.add_argument("--steps", type=int, default=5, help="timed steps per setting (after one warm-up step)")
    ap.add_argument("--agree-steps", type=int, default=20, help="steps of the fp32 / bf16 loss-curve comparison")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_step_"))
    scene = SyntheticScene(SceneConfig(seed=7, num_cameras=4, num_people=3, width=256, height=224))
    write_dataset(tmp / "set", scene, scene.framesets(4), progress=False)
    sampler = PairSampler([(tmp / "set", True)], [tuple(args.crop)], 1.0, 1, 0.2, seed=0, max_matches=512)
    n = max(args.steps + 1, args.agree_steps)
    batches = [sampler.sample(args.batch) for _ in range(n)]
    cfg = TrainConfig(train_sets=[{"path": str(tmp / "set")}], lr=5e-4, train_encoder=True, lambda_match=0.25,
                      body_mask_dice=1.0, max_matches=512)

    flags = sorted(cpu_flags() & set(FAST_BF16_CPU_FLAGS))
    print(f"CPU: {torch.backends.cpu.get_cpu_capability()}, fast bf16: {cpu_has_fast_bf16()} "
          f"(flags {flags or 'none of ' + '/'.join(FAST_BF16_CPU_FLAGS)}); {args.threads} threads; "
          f"batch {args.batch} pairs at {args.crop[0]}x{args.crop[1]}")
    print(f"{'network':<16}{'params M':>9}{'fp32 s/step':>13}{'bf16 s/step':>13}{'bf16 speed-up':>15}"
          f"{'loss rel diff':>15}")
    for name in args.networks:
        base = build_model({"name": name, "human": {"image_refine": 32}}, seed=0).net.train()
        row = {}
        curves = {}
        for precision in ("fp32", "bf16"):
            net = copy.deepcopy(base)
            times, _ = _steps(net, batches[: args.steps + 1], cfg, precision)
            row[precision] = sum(times[1:]) / args.steps
            _, curves[precision] = _steps(copy.deepcopy(base), batches[: args.agree_steps], cfg, precision)
        diff = max(abs(a - b) / max(abs(a), 1e-8) for a, b in zip(curves["fp32"], curves["bf16"]))
        nparam = sum(p.numel() for p in base.parameters()) / 1e6
        print(f"{name:<16}{nparam:>9.1f}{row['fp32']:>13.2f}{row['bf16']:>13.2f}{row['fp32'] / row['bf16']:>14.2f}x"
              f"{diff:>15.3f}")
        print(f"  loss fp32: {' '.join(f'{v:.2f}' for v in curves['fp32'][::max(1, args.agree_steps // 10)])}")
        print(f"  loss bf16: {' '.join(f'{v:.2f}' for v in curves['bf16'][::max(1, args.agree_steps // 10)])}")


if __name__ == "__main__":
    main()
