"""GPU benchmark of the inference API: frame sets/s, memory and bf16-vs-fp32 agreement.

What is timed (random weights, CUDA, one frame set = every image encoded once + all ordered
pairs decoded, with the pipeline's request for descriptors (``pipeline.descriptor_pixels``)
and every output copied to the host, as ``Hamst3rPipeline.process`` gets it):

- networks: full-size MASt3R (ViT-L/16 encoder, ViT-B decoders, catmlp+dpt heads) at 512x384
  and DUNE-MASt3R ViT-B/14 at 518x392 (its 14-px grid, long side 518 as officially);
- 4 and 8 cameras (12 and 56 ordered pairs);
- precision fp32 (TF32 matmuls off, the strict reference) and bf16 (autocast for encoder and
  decoder, heads in float32: ``precision: bf16`` / ``auto`` on a GPU).

Printed in one table after all runs: sets/s (median of ``--sets`` timed sets after a warm-up),
peak GPU memory (``torch.cuda.max_memory_allocated``), and the agreement of bf16 with fp32 on
the same frame set: median and 99th percentile of the relative pointmap error
``|p_bf16 - p_fp32| / |p_fp32|`` over every pixel of both views of every pair.

    .venv/bin/python bench/bench_gpu.py [--cams 4 8] [--sets 5] [--nets mast3r dune] [--head-chunk N]

Without a CUDA device it prints one line saying so and exits with status 2.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NETS = {"mast3r": ("mast3r_vitl_512_catmlpdpt", (384, 512)), "dune": ("dune_mast3r_vitb14", (392, 518))}


def _frame_set(model, imgs, pairs, desc_at, head_chunk):
    import torch

    feats = model.encode(imgs)
    preds = model.decode_pairs(feats, pairs, head_chunk=head_chunk, desc_at=desc_at)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return preds


def run_net(name: str, cams: int, sets: int, head_chunk, seed: int = 0, device: str = "cuda", nets=None) -> list[dict]:
    """fp32 and bf16 rows for one network and camera count (same weights, same images).
    ``device``/``nets`` exist for the CPU smoke test (a tiny network on "cpu")."""
    import torch

    from hamst3r_ros.geometry.alignment import AlignmentOptions
    from hamst3r_ros.model.hamst3r import Hamst3rModel, build_model
    from hamst3r_ros.pipeline import descriptor_pixels

    cfg_name, (h, w) = (nets or NETS)[name]
    cuda = torch.device(device).type == "cuda"
    net = build_model(cfg_name, seed=seed).net
    g = torch.Generator().manual_seed(seed)
    imgs = [(torch.randint(0, 256, (3, h, w), generator=g).float() / 255 - 0.5) / 0.5 for _ in range(cams)]
    pairs = list(itertools.permutations(range(cams), 2))
    desc_at = descriptor_pixels(pairs, [(h, w)] * cams, AlignmentOptions().n_subsample)
    rows, ref = [], None
    for precision in ("fp32", "bf16"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        model = Hamst3rModel(net, device, autocast_bf16=precision == "bf16")
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        preds = _frame_set(model, imgs, pairs, desc_at, head_chunk)  # warm-up (cuDNN autotuning, allocator)
        times = []
        for _ in range(sets):
            t = time.perf_counter()
            preds = _frame_set(model, imgs, pairs, desc_at, head_chunk)
            times.append(time.perf_counter() - t)
        row = dict(net=name, size=f"{w}x{h}", cams=cams, pairs=len(pairs), precision=precision,
                   sets_per_s=1.0 / float(np.median(times)),
                   peak_gb=torch.cuda.max_memory_allocated() / 1024 ** 3 if cuda else float("nan"))
        pts = np.concatenate([np.concatenate([p.pts_i.reshape(-1, 3), p.pts_j.reshape(-1, 3)]) for p in preds])
        if ref is None:
            ref = pts
            row.update(rel_med=0.0, rel_p99=0.0)
        else:
            rel = np.linalg.norm(pts - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)
            row.update(rel_med=float(np.median(rel)), rel_p99=float(np.percentile(rel, 99)))
        rows.append(row)
        del model, preds
    del net
    if cuda:
        torch.cuda.empty_cache()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cams", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--nets", nargs="+", choices=sorted(NETS), default=["mast3r", "dune"])
    ap.add_argument("--sets", type=int, default=5, help="timed frame sets per row (median), after one warm-up")
    ap.add_argument("--head-chunk", type=int, default=None, help="pairs per head batch (default: the model's, 8 on a GPU)")
    a = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(f"bench_gpu: no CUDA device (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
              f"nothing measured", file=sys.stderr)
        return 2
    rows = []
    for name in a.nets:
        for cams in a.cams:
            rows += run_net(name, cams, a.sets, a.head_chunk)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, random weights, all ordered pairs, "
          f"descriptors where the alignment reads them, outputs on the host")
    print("| network | input | cameras | pairs | precision | sets/s | peak GPU GB | pointmap rel. err. vs fp32: median | p99 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['net']} | {r['size']} | {r['cams']} | {r['pairs']} | {r['precision']} | {r['sets_per_s']:.2f} | "
              f"{r['peak_gb']:.1f} | {r['rel_med']:.2e} | {r['rel_p99']:.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
