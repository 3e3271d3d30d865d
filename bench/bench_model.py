"""Benchmark: a 4-camera frame set through the full-size MASt3R network, ours vs official.

What is timed (CPU, float32, random weights, ``torch.set_num_threads(--threads)``):
all 12 ordered pairs of 4 images at 512x384 (W x H) with the full-size MASt3R architecture
(ViT-L/16 encoder, ViT-B decoders, catmlp+dpt heads; 688.6 M parameters).

- ours: ``Hamst3rModel.encode`` (4 images, once each) + ``decode_pairs`` (12 pairs, one
  decoder batch, heads in chunks of 2), every output at every pixel, as officially.
- ours-align (``--sides ours-align``): the same, with descriptors computed only where the
  pipeline's alignment reads them (``pipeline.descriptor_pixels``: the first pair of each
  unordered pair, ~2k grid pixels per view), as ``hamst3r_node`` runs the network.
- official: the upstream code from ``--upstream`` (a naver/mast3r checkout with its dust3r and
  croco submodules, e.g. fetched to /tmp/mast3r; nothing of it is in this repository), as
  ``dust3r.inference`` runs symmetrised pairs with batch size 2: 6 calls of
  ``model(view1=[A, B], view2=[B, A])``, so each image is encoded once per pair it is in.

Each side runs in its own subprocess (so peak RSS is per side), after building the model and
one small warm-up forward. Peak RSS is the process high-water mark (``ru_maxrss``); the
"after build" column is RSS once the random model exists. Process CPU seconds (user + system)
are printed beside wall time because they are far less sensitive to other jobs on a shared
machine; the load average at the end of each side is printed too.

Usage::

    python bench/bench_model.py --upstream /tmp/mast3r --cams 3 4 # both sides, 3 and 4 cameras in one run
    python bench/bench_model.py --skip-official                   # ours only
    python bench/bench_model.py --upstream /tmp/mast3r --cams 2 --height 64 --width 64   # smoke run

The upstream needs ``einops`` and ``huggingface_hub`` importable; ``--upstream-deps DIR`` adds a
directory (e.g. made with ``pip install --target DIR --no-deps einops==0.8.2
huggingface_hub==0.33.5``) to its path.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MASt3R_KW = dict(pos_embed="RoPE100", patch_embed_cls="PatchEmbedDust3R", img_size=(512, 512),
                 head_type="catmlp+dpt", output_mode="pts3d+desc24", enc_embed_dim=1024, enc_depth=24,
                 enc_num_heads=16, dec_embed_dim=768, dec_depth=12, dec_num_heads=12, two_confs=True,
                 landscape_only=False)


def _rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024 ** 2
    return float("nan")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _images(n: int, h: int, w: int):
    import torch

    g = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (n, 3, h, w), generator=g, dtype=torch.uint8)
    return (u8.float() / 255 - 0.5) / 0.5


def _pairs(n_cams: int):
    return list(itertools.permutations(range(n_cams), 2))


def side_ours(a) -> dict:
    import torch

    sys.path.insert(0, str(REPO))
    from hamst3r_ros.model.hamst3r import build_model

    torch.set_num_threads(a.threads)
    t = time.perf_counter()
    model = build_model("mast3r_vitl_512_catmlpdpt", seed=0)
    build_s, after_build = time.perf_counter() - t, _rss_gb()
    model.predict(list(_images(2, 64, 64)), [(0, 1), (1, 0)])  # warm-up, same shapes as the official one
    imgs = list(_images(a.cams, a.height, a.width))
    pairs = _pairs(a.cams)
    desc_at = None
    if a.side == "ours-align":
        from hamst3r_ros.geometry.alignment import AlignmentOptions
        from hamst3r_ros.pipeline import descriptor_pixels

        desc_at = descriptor_pixels(pairs, [(a.height, a.width)] * a.cams, AlignmentOptions().n_subsample)
    c0, t0 = _cpu_s(), time.perf_counter()
    feats = model.encode(imgs)
    t1 = time.perf_counter()
    preds = model.decode_pairs(feats, pairs, desc_at=desc_at)
    t2, c2 = time.perf_counter(), _cpu_s()
    assert len(preds) == len(pairs)
    return dict(side=a.side, pairs=len(pairs), encoder_passes=len(imgs), build_s=build_s, total_s=t2 - t0, cpu_s=c2 - c0,
                encode_s=t1 - t0, decode_heads_s=t2 - t1, rss_after_build_gb=after_build, peak_rss_gb=_peak_gb())


def side_small(a) -> dict:
    """Our small trainable config (hamst3r_small) on the same rig at 224x160: frame sets/s."""
    import torch

    sys.path.insert(0, str(REPO))
    from hamst3r_ros.model.hamst3r import build_model

    torch.set_num_threads(a.threads)
    model = build_model("hamst3r_small", seed=0)
    imgs = list(_images(a.cams, 160, 224))
    pairs = _pairs(a.cams)
    model.predict(imgs, pairs)  # warm-up
    times = []
    for _ in range(a.small_sets):
        t = time.perf_counter()
        model.predict(imgs, pairs)
        times.append(time.perf_counter() - t)
    times.sort()
    return dict(side="small", pairs=len(pairs), median_s=times[len(times) // 2], best_s=times[0],
                sets=len(times), peak_rss_gb=_peak_gb())


def side_official(a) -> dict:
    import torch

    up = Path(a.upstream).resolve()
    for p in ([a.upstream_deps] if a.upstream_deps else []) + [str(up), str(up / "dust3r"), str(up / "dust3r" / "croco")]:
        sys.path.insert(0, p)
    from mast3r.model import AsymmetricMASt3R  # noqa: E402  (upstream, outside this repo)

    inf = float("inf")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t = time.perf_counter()
    model = AsymmetricMASt3R(depth_mode=("exp", -inf, inf), conf_mode=("exp", 1, inf),
                             desc_conf_mode=("exp", 0, inf), **MASt3R_KW).eval()
    build_s, after_build = time.perf_counter() - t, _rss_gb()

    def views(imgs, i, j):
        shape = torch.tensor([list(imgs.shape[-2:])] * 2)
        v1 = dict(img=torch.stack([imgs[i], imgs[j]]), true_shape=shape, idx=[i, j], instance=[str(i), str(j)])
        v2 = dict(img=torch.stack([imgs[j], imgs[i]]), true_shape=shape, idx=[j, i], instance=[str(j), str(i)])
        return v1, v2

    with torch.no_grad():
        model(*views(_images(2, 64, 64), 0, 1))  # warm-up
        imgs = _images(a.cams, a.height, a.width)
        pairs = _pairs(a.cams)
        sym = sorted({tuple(sorted(p)) for p in pairs})
        c0, t0 = _cpu_s(), time.perf_counter()
        for i, j in sym:
            model(*views(imgs, i, j))
        total, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return dict(side="official", pairs=2 * len(sym), encoder_passes=2 * len(sym), build_s=build_s, total_s=total, cpu_s=cpu,
                encode_s=None, decode_heads_s=None, rss_after_build_gb=after_build, peak_rss_gb=_peak_gb())


def _run_side(side: str, a, cams: int) -> dict:
    cmd = [sys.executable, __file__, "--side", side, "--threads", str(a.threads), "--cams", str(cams),
           "--height", str(a.height), "--width", str(a.width), "--small-sets", str(a.small_sets)]
    if a.upstream:
        cmd += ["--upstream", a.upstream]
    if a.upstream_deps:
        cmd += ["--upstream-deps", a.upstream_deps]
    print(f"running {side} side ...", file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{side} side failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", help="path of a naver/mast3r checkout (with dust3r/ and dust3r/croco/)")
    p.add_argument("--upstream-deps", help="extra sys.path entry for the upstream's einops/huggingface_hub")
    p.add_argument("--skip-official", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cams", type=int, nargs="+", default=[4], help="camera counts, each timed in turn (e.g. 3 4)")
    p.add_argument("--height", type=int, default=384)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--small-sets", type=int, default=10, help="timed sets for the small config (0 = skip)")
    p.add_argument("--skip-full", action="store_true", help="skip the full-size comparison (small config only)")
    p.add_argument("--sides", nargs="+", choices=["ours", "ours-align", "official"], default=["ours", "official"],
                   help="which sides to time for the full-size network, in this order (default: ours official)")
    p.add_argument("--side", choices=["ours", "ours-align", "official", "small"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.side:
        a.cams = a.cams[0]
        print(json.dumps({"ours": side_ours, "ours-align": side_ours, "official": side_official, "small": side_small}[a.side](a)))
        return 0
    if a.skip_official:
        a.sides = [x for x in a.sides if x != "official"]
    if "official" in a.sides and not a.skip_full and not a.upstream:
        p.error("--upstream PATH is required unless --skip-official")
    if a.small_sets:
        s = _run_side("small", a, a.cams[-1])
        load = os.getloadavg()
        print(f"\nhamst3r_small, {a.cams[-1]} cameras at 224x160, {s['pairs']} ordered pairs, CPU float32, {a.threads} threads, "
              f"load average {load[0]:.1f}")
        print("| config        | sets timed | median s/set | best s/set | sets/s (median) | peak RSS GB |")
        print("|---------------|------------|--------------|------------|-----------------|-------------|")
        print(f"| hamst3r_small | {s['sets']:>10} | {s['median_s']:>12.3f} | {s['best_s']:>10.3f} | "
              f"{1 / s['median_s']:>15.2f} | {s['peak_rss_gb']:>11.2f} |")
    if a.skip_full:
        return 0
    print(f"\nMASt3R ViT-L/ViT-B catmlp+dpt, {' and '.join(map(str, a.cams))} cameras at {a.width}x{a.height}, "
          f"all ordered pairs, CPU float32, {a.threads} threads (rows print as each side ends)")
    hdr = (f"| cams | {'side':<10} | pairs | encoder passes | wall s | s/pair | process CPU s | encode s | decode+heads s "
           f"| RSS after build GB | peak RSS GB | load avg |")
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|", flush=True)
    ratios = []
    for cams in a.cams:
        rows = []
        for side in a.sides:
            r = _run_side(side, a, cams)
            rows.append(r)
            enc = "-" if r["encode_s"] is None else f"{r['encode_s']:.1f}"
            dh = "-" if r["decode_heads_s"] is None else f"{r['decode_heads_s']:.1f}"
            print(f"| {cams:>4} | {r['side']:<10} | {r['pairs']:>5} | {r['encoder_passes']:>14} | {r['total_s']:>6.1f} | "
                  f"{r['total_s'] / r['pairs']:>6.2f} | {r['cpu_s']:>13.1f} | {enc:>8} | {dh:>14} | "
                  f"{r['rss_after_build_gb']:>18.2f} | {r['peak_rss_gb']:>11.2f} | {os.getloadavg()[0]:>8.1f} |", flush=True)
        off = [r for r in rows if r["side"] == "official"]
        for o in (r for r in rows if off and r["side"] != "official"):
            u = off[0]
            ratios.append(f"{cams} cameras: official/{o['side']}: wall {u['total_s'] / o['total_s']:.2f}x, process CPU "
                          f"{u['cpu_s'] / o['cpu_s']:.2f}x; peak RSS {o['side']}/official "
                          f"{o['peak_rss_gb'] / u['peak_rss_gb']:.2f}x")
    if ratios:
        print("\n" + "\n".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
