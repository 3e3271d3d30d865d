"""Run MASt3R's sparse global alignment (upstream checkout, its own venv) on pair
predictions written by bench_alignment.py, and print the camera poses and time as JSON (with
``--out``, also each view's dense depth map, in an .npz).

Usage (called by bench_alignment.py; not part of the package):
    <venv>/bin/python bench/mast3r_sparse_ga_runner.py --mast3r /tmp/up/mr --data pairs.npz

Setup (once; measured with mast3r f5209af, dust3r 4c24a6e, croco d7de070):
    git clone https://github.com/naver/mast3r /tmp/up/mr           # then dust3r into mr/dust3r,
    git clone https://github.com/naver/dust3r /tmp/up/mr/dust3r    # croco into mr/dust3r/croco
    git clone https://github.com/naver/croco /tmp/up/mr/dust3r/croco
    python3 -m venv /tmp/mast3r_venv && /tmp/mast3r_venv/bin/pip install torch==2.13.0 numpy scipy \
        roma tqdm einops trimesh matplotlib scikit-learn opencv-python-headless

The upstream code runs unmodified. What this harness does around it:
- it fills MASt3R's on-disk forward cache (the format forward_mast3r writes: per image pair
  (X11, C11, X21, C21), (X22, C22, X12, C12) and the correspondences (score, (xy1, xy2,
  conf))) from our pair predictions, so that sparse_global_alignment(model=None) reads our
  inputs instead of running a network;
- correspondences come from the data file (the same pixel matches our side uses);
- ``--niter2 0`` stops after MASt3R's first stage (coarse: 3D matching loss); the default runs
  both (the second refines poses, intrinsics and anchor depths with a 2D reprojection loss);
- torchvision is only imported upstream for an image-normalisation transform built at
  import time and never used here; its PyPI wheel does not load against the project's
  CPU torch, so a do-nothing stand-in module is registered for that import.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import types


def _torchvision_stand_in() -> None:
    class _Identity:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, x):
            return x

    tv = types.ModuleType("torchvision")
    tvf = types.ModuleType("torchvision.transforms")
    tvf.Compose = tvf.ToTensor = tvf.Normalize = _Identity
    tv.transforms = tvf
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.transforms", tvf)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mast3r", required=True, help="upstream naver/mast3r checkout (with dust3r inside or beside)")
    ap.add_argument("--data", required=True, help=".npz written by bench_alignment.py")
    ap.add_argument("--subsample", type=int, default=8)
    ap.add_argument("--niter1", type=int, default=300)
    ap.add_argument("--niter2", type=int, default=300)
    ap.add_argument("--out", default="", help=".npz for the dense depth maps (N, H, W) of the solution")
    args = ap.parse_args()

    import numpy as np
    import torch

    _torchvision_stand_in()
    sys.path.insert(0, args.mast3r)
    from mast3r.cloud_opt.sparse_ga import sparse_global_alignment
    from mast3r.utils.misc import hash_md5, mkdir_for

    d = np.load(args.data)
    n = int(d["n"])
    H, W = int(d["height"]), int(d["width"])
    imgs = [f"view{k}" for k in range(n)]
    views = [dict(img=torch.zeros(1, 3, H, W), true_shape=np.int32([[H, W]]), idx=k, instance=imgs[k]) for k in range(n)]
    und = sorted({(min(i, j), max(i, j)) for i, j in d["pairs"]})
    with tempfile.TemporaryDirectory() as cache:
        for a, b in und:
            ia, ib = hash_md5(imgs[a]), hash_md5(imgs[b])
            T = lambda k: torch.from_numpy(d[k].astype(np.float32))  # noqa: E731
            torch.save((T(f"pts_i_{a}_{b}"), T(f"conf_i_{a}_{b}"), T(f"pts_j_{a}_{b}"), T(f"conf_j_{a}_{b}")),
                       mkdir_for(f"{cache}/forward/{ia}/{ib}.pth"))
            torch.save((T(f"pts_i_{b}_{a}"), T(f"conf_i_{b}_{a}"), T(f"pts_j_{b}_{a}"), T(f"conf_j_{b}_{a}")),
                       mkdir_for(f"{cache}/forward/{ib}/{ia}.pth"))
            xy1, xy2, mc = (torch.from_numpy(d[f"{k}_{a}_{b}"]) for k in ("xy1", "xy2", "mconf"))
            c = [float(d[f"conf_{s}_{x}_{y}"].mean()) for s in "ij" for x, y in ((a, b), (b, a))]
            score = (float(np.prod(c) ** 0.25), float(mc.sum()), len(mc))
            torch.save((score, (xy1, xy2, mc.float())),
                       mkdir_for(f"{cache}/corres_conf=desc_conf_subsample={args.subsample}/{ia}-{ib}.pth"))
        # both orders, as MASt3R's demo makes them (its optimiser indexes matches both ways)
        pairs_in = [(views[a], views[b]) for a, b in und] + [(views[b], views[a]) for a, b in und]
        t0 = time.perf_counter()
        scene = sparse_global_alignment(imgs, pairs_in, cache, model=None, subsample=args.subsample, device="cpu",
                                        niter1=args.niter1, niter2=args.niter2, verbose=False)
        dt = time.perf_counter() - t0
        if args.out:  # the dense depth needs the canonical views cached in the temporary folder
            _, depthmaps, _ = scene.get_dense_pts3d(clean_depth=False)
            np.savez(args.out, depth=np.stack([dm.detach().cpu().numpy().reshape(H, W) for dm in depthmaps]))
    cam2w = scene.get_im_poses().detach().cpu().numpy().astype(float)
    focals = scene.get_focals().detach().cpu().numpy().astype(float)
    print("RESULT " + json.dumps(dict(time_s=dt, cam2w=cam2w.tolist(), focals=focals.tolist())))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
