"""Conformance against the golden outputs of the official code (``../shared/fixtures``).

Every official-format checkpoint in the fixtures is loaded with our loaders and run on the
fixture inputs through our inference API (:class:`.hamst3r.Hamst3rModel`: each image encoded
once, pairs decoded in shape-grouped batches). Each output tensor is compared with its
golden array: a check passes when ``|ours - ref| <= atol + rtol * |ref|`` everywhere, with the
tolerances the fixtures' READMEs give (official float32 vs float64 error, with margin).

Reported per check: ``max_abs`` = max |ours - ref|, ``max_rel`` = max |ours - ref| /
max(|ref|, 1e-3) (the floor keeps near-zero references from dominating).

Fixture layout (see the READMEs there):
- ``mast3r/tiny_<kind>.pth[.xz]`` with ``outputs_<kind>_<size>.npz`` and ``inputs.npz``;
- ``dune/tiny_dune_encoder.pth``, ``dune/tiny_dune_mast3r.pth`` with ``outputs_encoder.npz``,
  ``outputs_dune_mast3r.npz`` and ``inputs.npz``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from .checkpoints import load_checkpoint, load_dune_mast3r, load_dune_model
from .encoder import interpolate_pos_embed
from .hamst3r import Hamst3rModel
from .networks import IMAGENET_MEAN, IMAGENET_STD
from .rope import grid_positions


@dataclass
class Check:
    """One compared tensor."""

    name: str
    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    ok: bool
    note: str = ""


def compare(name: str, ours, ref, atol: float, rtol: float = 0.0) -> Check:
    """Compare arrays (any float/int type) elementwise with ``atol + rtol * |ref|``."""
    a = np.asarray(ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else ours, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if a.shape != r.shape:
        return Check(name, float("inf"), float("inf"), atol, rtol, False, f"shape {a.shape} != expected {r.shape}")
    d = np.abs(a - r)
    if not np.all(np.isfinite(a)):
        return Check(name, float("inf"), float("inf"), atol, rtol, False, "non-finite values")
    ok = bool(np.all(d <= atol + rtol * np.abs(r)))
    rel = d / np.maximum(np.abs(r), 1e-3)
    return Check(name, float(d.max(initial=0.0)), float(rel.max(initial=0.0)), atol, rtol, ok)


# ----------------------------------------------------------------- MASt3R / DUSt3R family

# (atol, rtol) per map kind and summary kind, from fixtures/mast3r/README.md.
_MAP_TOL = {"pts3d": (3e-4, 1e-5), "pts3d_in_other_view": (3e-4, 1e-5), "conf": (3e-4, 1e-5),
            "desc_conf": (3e-4, 1e-5), "desc": (1e-5, 0.0)}
_TOKEN_TOL = 2e-5


def _summaries(m: np.ndarray, name: str, z, prefix: str) -> Iterator[Check]:
    """Checks of one full (H, W[, C]) map against ``prefix``_{sub,crops,rowsum,colsum,stats}."""
    atol, rtol = _MAP_TOL[name]
    sub = m[3::8, 5::8] if name == "desc" else m[1::4, 2::4]
    yield compare(f"{prefix}_sub", sub, z[f"{prefix}_sub"], atol, rtol)
    crops = np.stack([m[r:r + 32, c:c + 32] for r, c in z[f"{prefix}_crop_origins"]])
    yield compare(f"{prefix}_crops", crops, z[f"{prefix}_crops"], atol, rtol)
    m64 = m.astype(np.float64)
    sum_tol = 5e-4 if name == "desc" else 0.05
    yield compare(f"{prefix}_rowsum", m64.sum(1), z[f"{prefix}_rowsum"], sum_tol)
    yield compare(f"{prefix}_colsum", m64.sum(0), z[f"{prefix}_colsum"], sum_tol)
    flat = m64.reshape(m64.shape[0] * m64.shape[1], -1)
    stats = np.stack([flat.min(0), flat.max(0), flat.mean(0), flat.std(0)])
    yield compare(f"{prefix}_stats", stats, z[f"{prefix}_stats"], 5e-4, 1e-5)


def _decoded_official(model: Hamst3rModel, feats, pairs) -> Iterator[tuple]:
    """Per decoded pair: (b, pair number, pred1, pred2, dec1, dec2). pred1/pred2 are the
    official dicts of the pair's head chunk (the fixtures hold the official code's maps, by its
    names), dec1/dec2 its decoder block lists; b is the pair's row in those batches."""
    for idx, heads, dec1, dec2 in model.iter_decoded(feats, pairs, keep_tokens=True):
        res1, res2 = heads.official()
        for b, p in enumerate(idx):
            yield b, p, res1, res2, dec1, dec2


def check_mast3r_outputs(ckpt: Path, outputs: Path, inputs: Path) -> Iterator[Check]:
    """One official MASt3R/DUSt3R checkpoint on one outputs file."""
    size = int(re.search(r"_(\d+)\.npz$", outputs.name).group(1))
    model = Hamst3rModel(load_checkpoint(ckpt))
    z, zin = np.load(outputs), np.load(inputs)
    n_img = len([k for k in zin.files if re.fullmatch(r"img\d+_raw_u8", k)])
    imgs = [torch.from_numpy(zin[f"img{i}_{size}"]) for i in range(n_img)]
    feats = model.encode(imgs)
    label = f"{outputs.stem}"
    for i, f in enumerate(feats):
        if f"enc_img{i}" in z.files:
            yield compare(f"{label}:enc_img{i}", f.enc, z[f"enc_img{i}"], _TOKEN_TOL)
        if f"pos_img{i}" in z.files:
            yield compare(f"{label}:pos_img{i}", grid_positions(*f.grid), z[f"pos_img{i}"], 0.0)
    tags = sorted({k.split("_")[0] for k in z.files if re.match(r"p\d\d_", k)})
    pairs = [(int(t[1]), int(t[2])) for t in tags]
    for b, p, res1, res2, dec1, dec2 in _decoded_official(model, feats, pairs):
        tag = tags[p]
        for v, dec in (("v1", dec1), ("v2", dec2)):
            yield compare(f"{label}:{tag}_dec_{v}", dec[-1][b], z[f"{tag}_dec_{v}"], _TOKEN_TOL)
            for blk in (5, 7):
                key = f"{tag}_dec{blk}_{v}"
                if key in z.files:
                    yield compare(f"{label}:{key}", dec[blk - 1][b], z[key], _TOKEN_TOL)
        for v, res in (("v1", res1), ("v2", res2)):
            for name, t in res.items():
                prefix = f"{tag}_{v}_{name}"
                if f"{prefix}_sub" in z.files:
                    for c in _summaries(t[b].float().cpu().numpy(), name, z, prefix):
                        c.name = f"{label}:{c.name}"
                        yield c


# ----------------------------------------------------------------- DUNE and DUNE-MASt3R

_DUNE_TOK = (2e-4, 1e-4)
_DUNE_DEC = (5e-4, 0.0)
_DUNE_MAP = {"pts3d": (5e-3, 5e-3), "pts3d_in_other_view": (5e-3, 5e-3), "conf": (1e-4, 1e-4),
             "desc_conf": (1e-4, 1e-4), "desc": (3e-5, 0.0)}


def _imagenet_from_dust3r(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(x)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (t * 0.5 + 0.5 - mean) / std


@torch.inference_mode()
def check_dune_encoder(ckpt: Path, outputs: Path, inputs: Path) -> Iterator[Check]:
    """The DUNE encoder (+ teacher projectors) on ``outputs_encoder.npz``."""
    dm = load_dune_model(ckpt)
    z, zin = np.load(outputs), np.load(inputs)
    srcs = {"A_448": torch.from_numpy(zin["dune448_A"]), "A_378x518": torch.from_numpy(zin["dune_in_from_mast3r518_A"]),
            "C_518x378": _imagenet_from_dust3r(zin["mast3r518_C"]), "A_168": torch.from_numpy(zin["dune168_A"])}
    lab = outputs.stem
    for tag in ("A_448", "A_378x518", "C_518x378"):
        out = dm.encoder(srcs[tag])
        for k, v in out.items():
            if f"{tag}.{k}" in z.files:
                yield compare(f"{lab}:{tag}.{k}", v, z[f"{tag}.{k}"], *_DUNE_TOK)
    x = srcs["A_168"]
    grid = (x.shape[-2] // dm.encoder.cfg.patch_size, x.shape[-1] // dm.encoder.cfg.patch_size)
    yield compare(f"{lab}:A_168.pos_embed_interpolated", interpolate_pos_embed(dm.encoder.pos_embed, grid),
                  z["A_168.pos_embed_interpolated"], *_DUNE_TOK)
    yield compare(f"{lab}:A_168.encoder_prenorm_concat_cls_patch", dm.encoder_output(x),
                  z["A_168.encoder_prenorm_concat_cls_patch"], *_DUNE_TOK)
    for teacher in dm.projectors:
        cls, patch = dm.projector_output(x, teacher)
        pre = f"A_168.projector.{teacher}"
        yield compare(f"{lab}:{pre}.cls", cls, z[f"{pre}.cls"], *_DUNE_TOK)
        if f"{pre}.patch" in z.files:
            yield compare(f"{lab}:{pre}.patch", patch, z[f"{pre}.patch"], *_DUNE_TOK)
        if f"{pre}.patch_first16" in z.files:
            yield compare(f"{lab}:{pre}.patch_first16", patch[:, :16], z[f"{pre}.patch_first16"], *_DUNE_TOK)


def check_dune_mast3r(decoder: Path, encoder: Path, outputs: Path, inputs: Path) -> Iterator[Check]:
    """DUNE-MASt3R pairs on ``outputs_dune_mast3r.npz`` (mixed shapes in one frame set)."""
    net = load_dune_mast3r(decoder, encoder)
    model = Hamst3rModel(net)
    z, zin = np.load(outputs), np.load(inputs)
    lab = outputs.stem
    # Set 1: A, B at 70x98 and C at 70x42 (two shape groups); set 2: A, B at 378x518.
    sets = [(["mast3r98_A", "mast3r98_B", "mast3r70_C"], {"AB_98": (0, 1), "BA_98": (1, 0), "CC_70": (2, 2)}),
            (["mast3r518_A", "mast3r518_B"], {"AB_518": (0, 1), "BA_518": (1, 0)})]
    for names, tagged in sets:
        imgs = [torch.from_numpy(zin[n]) for n in names]
        feats = model.encode(imgs)
        tags = list(tagged)
        pairs = [tagged[t] for t in tags]
        raw = {}
        with torch.inference_mode():
            for k, im in enumerate(imgs):
                x = _imagenet_from_dust3r(im.numpy())
                raw[k] = net.dune_backbone.forward_prenorm(x)[:, net.dune_backbone.num_prefix_tokens:]
        for b, p, res1, res2, dec1, dec2 in _decoded_official(model, feats, pairs):
            tag = tags[p]
            for v, img_k, dec in (("view1", pairs[p][0], dec1), ("view2", pairs[p][1], dec2)):
                pre = f"{tag}.{v}"
                checks = {"enc_feat_raw": raw[img_k], "enc_feat_normed": feats[img_k].enc[None],
                          "pos": grid_positions(*feats[img_k].grid)[None],
                          "dec_final": dec[-1][b:b + 1],
                          "dec_layers": torch.stack([t[b:b + 1] for t in dec])}
                for k, ours in checks.items():
                    if f"{pre}.{k}" in z.files:
                        tol = (0.0, 0.0) if k == "pos" else (_DUNE_DEC if k.startswith("dec") else _DUNE_TOK)
                        yield compare(f"{lab}:{pre}.{k}", ours, z[f"{pre}.{k}"], *tol)
            for pk, res in (("pred1", res1), ("pred2", res2)):
                for name, t in res.items():
                    full = t[b:b + 1].float().cpu().numpy()
                    key = f"{tag}.{pk}.{name}"
                    tol = _DUNE_MAP[name]
                    if key in z.files:
                        yield compare(f"{lab}:{key}", full, z[key], *tol)
                    if f"{key}.sub14" in z.files:
                        yield compare(f"{lab}:{key}.sub14", full[:, 3::14, 3::14], z[f"{key}.sub14"], *tol)
                    if f"{key}.crop28" in z.files:
                        yield compare(f"{lab}:{key}.crop28", full[:, :28, :28], z[f"{key}.crop28"], *tol)


# ----------------------------------------------------------------- discovery

def run_conformance(fixtures: Path) -> Iterator[Check]:
    """All checks for a fixtures directory (``mast3r/`` and/or ``dune/`` inside)."""
    fixtures = Path(fixtures)
    found = False
    m = fixtures / "mast3r"
    if m.is_dir():
        for out in sorted(m.glob("outputs_*_*.npz")):
            kind = re.fullmatch(r"outputs_(.+)_\d+\.npz", out.name).group(1)
            ckpts = [p for p in (m / f"tiny_{kind}.pth", m / f"tiny_{kind}.pth.xz") if p.is_file()]
            if not ckpts:
                raise FileNotFoundError(f"{out}: expected its checkpoint tiny_{kind}.pth[.xz] beside it")
            found = True
            yield from check_mast3r_outputs(ckpts[0], out, m / "inputs.npz")
    d = fixtures / "dune"
    if d.is_dir():
        enc, dec = d / "tiny_dune_encoder.pth", d / "tiny_dune_mast3r.pth"
        if (d / "outputs_encoder.npz").is_file():
            found = True
            yield from check_dune_encoder(enc, d / "outputs_encoder.npz", d / "inputs.npz")
        if (d / "outputs_dune_mast3r.npz").is_file():
            found = True
            yield from check_dune_mast3r(dec, enc, d / "outputs_dune_mast3r.npz", d / "inputs.npz")
    if not found:
        raise FileNotFoundError(f"{fixtures}: no fixtures found (expected mast3r/outputs_*.npz or dune/outputs_*.npz)")


def default_fixtures_dir(repo_root: Optional[Path] = None) -> Path:
    """``$HAMST3R_FIXTURES`` if set, else ``<repo>/../shared/fixtures``."""
    import os

    env = os.environ.get("HAMST3R_FIXTURES")
    if env:
        return Path(env)
    root = repo_root or Path(__file__).resolve().parents[2]
    return root.parent / "shared" / "fixtures"
