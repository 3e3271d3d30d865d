"""Geometry heads (pointmap + confidence, local descriptors) and MASt3R post-processing.

Heads read the decoder's layer list ``decout = [enc, dec_1, ..., dec_L]`` (tokens (B, N, C),
``dec_L`` after ``dec_norm``) and return a :class:`~.outputs.ViewOutputs` of dense NHWC maps at
the input resolution (its field names are the official code's dict keys):

- ``pts3d`` (B, H, W, 3): points in view 1's camera frame (optical: x right, y down,
  z forward), network scale (metres for metric MASt3R);
- ``conf`` (B, H, W): confidence >= vmin (1 for MASt3R, ``1 + exp(x)``);
- ``desc`` (B, H, W, D): L2-normalised local descriptors (MASt3R);
- ``desc_conf`` (B, H, W): descriptor confidence (``exp(x)`` with ``two_confs``).

Module and parameter names follow the official DUSt3R/MASt3R heads (``proj``, ``dpt.*``,
``head_local_features.*``) so official state dicts load unchanged. Heads run in float32.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import NetConfig
from .layers import Mlp
from .outputs import ViewOutputs


# ---------------------------------------------------------------- post-processing (pure)

def reg_dense_depth(xyz: torch.Tensor, mode: tuple) -> torch.Tensor:
    """Map raw (..., 3) outputs to points. ``exp``: ``xyz/|xyz| * expm1(|xyz|)`` (|xyz| >= 1e-8)."""
    kind, vmin, vmax = mode
    if not (vmin == -float("inf") and vmax == float("inf")):
        raise ValueError(f"depth_mode {mode}: only unbounded depth modes are supported (as officially)")
    if kind == "linear":
        return xyz
    d = xyz.norm(dim=-1, keepdim=True)
    xyz = xyz / d.clip(min=1e-8)
    if kind == "square":
        return xyz * d.square()
    if kind == "exp":
        return xyz * torch.expm1(d)
    raise ValueError(f"depth_mode: unknown mode {kind!r}; expected 'linear', 'square' or 'exp'")


def reg_dense_conf(x: torch.Tensor, mode: tuple) -> torch.Tensor:
    """Confidence: ``exp``: ``vmin + exp(x)`` clipped to ``vmax - vmin``; ``sigmoid`` rescaled."""
    kind, vmin, vmax = mode
    if kind == "exp":
        return vmin + x.exp().clip(max=vmax - vmin)
    if kind == "sigmoid":
        return (vmax - vmin) * torch.sigmoid(x) + vmin
    raise ValueError(f"conf_mode: unknown mode {kind!r}; expected 'exp' or 'sigmoid'")


def reg_desc(desc: torch.Tensor, mode: str) -> torch.Tensor:
    """Descriptors: ``norm`` divides by the L2 norm (no epsilon, as officially)."""
    if "norm" in mode:
        return desc / desc.norm(dim=-1, keepdim=True)
    raise ValueError(f"desc_mode: unknown mode {mode!r}; expected 'norm'")


def geometry_maps(fmap: torch.Tensor, cfg: NetConfig) -> ViewOutputs:
    """Points and confidence of raw (B, H, W, C) head output (channels 0-2 and 3)."""
    out = ViewOutputs(pts3d=reg_dense_depth(fmap[..., 0:3], cfg.depth_mode))
    if cfg.conf_mode is not None:
        out.conf = reg_dense_conf(fmap[..., 3], cfg.conf_mode)
    return out


def postprocess(fmap: torch.Tensor, cfg: NetConfig, desc_at: DescRequest = None) -> ViewOutputs:
    """Raw (B, H, W, C) head output -> the view's maps (see module docstring).

    ``desc_at``: None for descriptors everywhere; else see :data:`DescRequest` (descriptors
    kept at the requested pixels only, NaN elsewhere; the raw channels are computed anyway).
    """
    out = geometry_maps(fmap, cfg)
    if cfg.desc_dim is not None:
        start = 3 + int(cfg.conf_mode is not None)
        raw = fmap[..., start:start + cfg.desc_dim + int(cfg.two_confs)]
        if desc_at is not None:
            b, h, w, c = raw.shape
            flat = raw.reshape(b, h * w, c)
            return sparse_descriptors(out, [None if i is None else flat[k, i] for k, i in enumerate(desc_at)], desc_at, cfg)
        out.desc = reg_desc(raw[..., :cfg.desc_dim], cfg.desc_mode)
        if cfg.two_confs:
            out.desc_conf = reg_dense_conf(raw[..., cfg.desc_dim], cfg.desc_conf_mode or cfg.conf_mode)
        else:
            out.desc_conf = out.conf.clone()
    return out


#: Which descriptors a head batch needs: None (every pixel of every item), or one entry per batch
#: item: None (no descriptors for that item) or a (M,) int64 tensor of flat pixel indices
#: ``y * W + x`` of that view. Descriptors not asked for are NaN in the output maps.
DescRequest = Optional[Sequence[Optional[torch.Tensor]]]


def sparse_descriptors(out: ViewOutputs, raw: Sequence[Optional[torch.Tensor]], desc_at: Sequence[Optional[torch.Tensor]],
                       cfg: NetConfig) -> ViewOutputs:
    """Put raw descriptor channels ``raw[b]`` ((M_b, D + two_confs), the pixels ``desc_at[b]``)
    into NaN-filled (B, H, W, D) / (B, H, W) maps ``out.desc`` / ``out.desc_conf``, normalised as
    :func:`postprocess` does (what is not computed must not look like a descriptor)."""
    b, h, w = out.pts3d.shape[:3]
    d = cfg.desc_dim
    desc = out.pts3d.new_full((b, h * w, d), float("nan"))
    desc_conf = out.pts3d.new_full((b, h * w), float("nan"))
    for k, (r, idx) in enumerate(zip(raw, desc_at)):
        if idx is None:
            continue
        desc[k, idx] = reg_desc(r[:, :d], cfg.desc_mode)
        if cfg.two_confs:
            desc_conf[k, idx] = reg_dense_conf(r[:, d], cfg.desc_conf_mode or cfg.conf_mode)
        else:
            desc_conf[k, idx] = out.conf[k].reshape(-1)[idx]
    out.desc, out.desc_conf = desc.view(b, h, w, d), desc_conf.view(b, h, w)
    return out


def tokens_to_pixels(feat: torch.Tensor, grid: tuple[int, int], patch: int) -> torch.Tensor:
    """(B, N, C*p*p) per-token outputs -> (B, C, h*p, w*p) by pixel shuffle.

    Channel ``c*p*p + i*p + j`` becomes channel c at pixel (i, j) of the token's patch.
    """
    b, n, _ = feat.shape
    h, w = grid
    feat = feat.transpose(-1, -2).reshape(b, -1, h, w)
    return F.pixel_shuffle(feat, patch)


def tokens_to_pixels_nhwc(feat: torch.Tensor, grid: tuple[int, int], patch: int) -> torch.Tensor:
    """Same mapping as :func:`tokens_to_pixels`, straight to (B, h*p, w*p, C) in one copy."""
    b, n, cpp = feat.shape
    h, w = grid
    c = cpp // (patch * patch)
    feat = feat.reshape(b, h, w, c, patch, patch).permute(0, 1, 4, 2, 5, 3)
    return feat.reshape(b, h * patch, w * patch, c)


def pixel_tokens(idx: torch.Tensor, grid: tuple[int, int], patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel indices ``y * W + x`` of an image of ``grid`` tokens -> (token index, position
    ``(y % p) * p + x % p`` within the token's patch), the inverse of :func:`tokens_to_pixels`."""
    w_px = grid[1] * patch
    y, x = idx // w_px, idx % w_px
    return (y // patch) * grid[1] + (x // patch), (y % patch) * patch + (x % patch)


def project_at(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, channels: int,
               grid: tuple[int, int], patch: int, idx: torch.Tensor) -> torch.Tensor:
    """A per-token linear layer whose output is pixel-shuffled (row ``c * p^2 + s`` = channel c at
    sub-pixel s, as :func:`tokens_to_pixels` reads it), evaluated only at pixels ``idx``.

    ``tokens`` (N, Din) of one view, ``weight`` (channels * p^2, Din), ``bias`` (channels * p^2,)
    -> (M, channels), equal (to float32 rounding) to the full map's values at those pixels. The
    pixels are grouped by sub-pixel, one small matmul per group: work in proportion to M, not to
    N * p^2.
    """
    tok, sub = pixel_tokens(idx, grid, patch)
    w = weight.view(channels, patch * patch, -1)
    b = bias.view(channels, patch * patch)
    out = tokens.new_empty(len(idx), channels)
    order = torch.argsort(sub, stable=True)
    subs, counts = torch.unique_consecutive(sub[order], return_counts=True)
    start = 0
    for s, n in zip(subs.tolist(), counts.tolist()):
        rows = order[start:start + n]
        start += n
        out[rows] = torch.addmm(b[:, s], tokens[tok[rows]], w[:, s].t())
    return out


def _num_out_channels(cfg: NetConfig) -> int:
    return 3 + int(cfg.conf_mode is not None)


# ---------------------------------------------------------------- linear head

class LinearHead(nn.Module):
    """DUSt3R linear head: ``proj(dec_L)`` then pixel shuffle (key ``proj``).

    With an output_mode carrying descriptors (our small models), the same projection also
    emits descriptor (+ descriptor confidence) channels.
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        ch = _num_out_channels(cfg) + (cfg.desc_dim or 0) + int(cfg.desc_dim is not None and cfg.two_confs)
        self.proj = nn.Linear(cfg.dec_embed_dim, ch * cfg.patch_size ** 2)

    def forward(self, decout: list[torch.Tensor], grid: tuple[int, int], desc_at: DescRequest = None) -> ViewOutputs:
        """``desc_at``: which descriptors to keep (see :data:`DescRequest`). They come from the same
        projection as the points, so all are computed, but only the point and confidence
        channels are pixel-shuffled to full maps; the requested descriptors are read straight
        from the per-token outputs (the shuffle, a strided copy, cost more than the projection)."""
        tok = decout[-1]
        p = self.cfg.patch_size
        if desc_at is None or self.cfg.desc_dim is None:
            return postprocess(tokens_to_pixels_nhwc(self.proj(tok), grid, p), self.cfg, desc_at)
        # Rows c * p^2 + s of the projection are channel c at sub-pixel s: the point and
        # confidence channels are the first rows, projected for every token; descriptor rows
        # only for the requested pixels (the embedded model: 1024 + ~2% of 4352 rows).
        g = _num_out_channels(self.cfg) * p * p
        out = geometry_maps(tokens_to_pixels_nhwc(F.linear(tok, self.proj.weight[:g], self.proj.bias[:g]), grid, p), self.cfg)
        ch = self.cfg.desc_dim + int(self.cfg.two_confs)
        w, b = self.proj.weight[g:], self.proj.bias[g:]
        picked = [None if idx is None else project_at(tok[k], w, b, ch, grid, p, idx) for k, idx in enumerate(desc_at)]
        return sparse_descriptors(out, picked, desc_at, self.cfg)


# ---------------------------------------------------------------- DPT

class ResidualConvUnit(nn.Module):
    """Pre-activation residual unit: ``x + conv2(relu(conv1(relu(x))))``."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(x))  # x itself is the residual: not in place
        return x + self.conv2(F.relu(out, inplace=True))


def _upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=(x.shape[-2] * 2, x.shape[-1] * 2), mode="bilinear", align_corners=True)


class FeatureFusionBlock(nn.Module):
    """``out = x + RCU1(skip)`` (when a skip is given), ``RCU2``, bilinear x2, 1x1 ``out_conv``."""

    def __init__(self, features: int):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        return self.out_conv(_upsample2(x))


class _Scratch(nn.Module):
    """DPT 'scratch': per-level 3x3 convs to ``features`` and the four fusion blocks.

    ``layer_rn`` is a second name for ``layer{1..4}_rn`` (the same modules), as officially,
    so both key spellings exist in state dicts.
    """

    def __init__(self, layer_dims: list[int], features: int):
        super().__init__()
        convs = [nn.Conv2d(d, features, 3, padding=1, bias=False) for d in layer_dims]
        self.layer1_rn, self.layer2_rn, self.layer3_rn, self.layer4_rn = convs
        self.layer_rn = nn.ModuleList(convs)
        self.refinenet1 = FeatureFusionBlock(features)
        self.refinenet2 = FeatureFusionBlock(features)
        self.refinenet3 = FeatureFusionBlock(features)
        self.refinenet4 = FeatureFusionBlock(features)


class DPT(nn.Module):
    """Dense prediction transformer adapter (DUSt3R's ``DPTOutputAdapter_fix``).

    Hooks index ``decout``; the four hooked token maps are projected (1x1 conv), resampled to
    strides p/4, p/8, p/16, p/32 (ConvT 4x4/s4, ConvT 2x2/s2, identity, conv 3x3/s2), fused
    coarse to fine, and a small conv head brings the result to full resolution (bilinear with
    align_corners=True by p/8: x2 for patch 16, x1.75 for patch 14).
    """

    def __init__(self, cfg: NetConfig, num_channels: int, feature_dim: int = 256,
                 layer_dims: tuple[int, ...] = (96, 192, 384, 768)):
        super().__init__()
        self.hooks = cfg.dpt_hooks
        self.patch_size = cfg.patch_size
        dims = [cfg.encoder_dim] + [cfg.dec_embed_dim] * 3
        ld = list(layer_dims)
        self.act_postprocess = nn.ModuleList([
            nn.Sequential(nn.Conv2d(dims[0], ld[0], 1), nn.ConvTranspose2d(ld[0], ld[0], 4, stride=4)),
            nn.Sequential(nn.Conv2d(dims[1], ld[1], 1), nn.ConvTranspose2d(ld[1], ld[1], 2, stride=2)),
            nn.Sequential(nn.Conv2d(dims[2], ld[2], 1)),
            nn.Sequential(nn.Conv2d(dims[3], ld[3], 1), nn.Conv2d(ld[3], ld[3], 3, stride=2, padding=1)),
        ])
        self.scratch = _Scratch(ld, feature_dim)
        last = feature_dim // 2
        # Index 1 of the official head is a parameter-free Interpolate; see forward().
        self.head = nn.Sequential(
            nn.Conv2d(feature_dim, feature_dim // 2, 3, padding=1),
            nn.Identity(),
            nn.Conv2d(feature_dim // 2, last, 3, padding=1),
            nn.ReLU(inplace=True),  # full-resolution activation: no second copy
            nn.Conv2d(last, num_channels, 1),
        )

    def forward(self, decout: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
        h, w = grid
        layers = []
        for idx, hook in enumerate(self.hooks):
            t = decout[hook]
            # (B, N, C) row-major tokens viewed as NCHW *is* channels_last memory: no copy, and
            # every conv, transposed conv and bilinear resize below then runs channels_last
            # (oneDNN's fast CPU path: the whole DPT measured 1.5x faster, same values to ~1e-7).
            t = t.reshape(t.shape[0], h, w, t.shape[-1]).permute(0, 3, 1, 2)
            layers.append(self.scratch.layer_rn[idx](self.act_postprocess[idx](t)))
        l1, l2, l3, l4 = layers
        # Odd token grids: the stride-2 conv rounds up, so crop back to level 3's grid.
        path = self.scratch.refinenet4(l4)[:, :, : l3.shape[2], : l3.shape[3]]
        path = self.scratch.refinenet3(path, l3)
        path = self.scratch.refinenet2(path, l2)
        path = self.scratch.refinenet1(path, l1)
        out = self.head[0](path)
        out = F.interpolate(out, size=(h * self.patch_size, w * self.patch_size), mode="bilinear", align_corners=True)
        for m in list(self.head)[2:]:
            out = m(out)
        return out


class DPTHead(nn.Module):
    """DUSt3R ``dpt`` head: pointmap + confidence from the DPT (key prefix ``dpt``)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.dpt = DPT(cfg, _num_out_channels(cfg))

    def forward(self, decout: list[torch.Tensor], grid: tuple[int, int], desc_at: DescRequest = None) -> ViewOutputs:
        """``desc_at`` is accepted for a uniform head interface; this head has no descriptors."""
        return postprocess(self.dpt(decout, grid).permute(0, 2, 3, 1), self.cfg)


class CatMLPDPTHead(DPTHead):
    """MASt3R ``catmlp+dpt`` head: the DPT head's ``dpt`` for pts3d+conf, plus an MLP on
    ``cat[enc, dec_L]`` for descriptors (key prefix ``head_local_features``).

    The MLP (hidden 4*(enc+dec)) emits (desc_dim + two_confs) * p^2 values per token, pixel
    shuffled to full resolution: channels 0..D-1 descriptor, D descriptor confidence.
    """

    def __init__(self, cfg: NetConfig):
        super().__init__(cfg)
        idim = cfg.encoder_dim + cfg.dec_embed_dim
        out = (cfg.desc_dim + int(cfg.two_confs)) * cfg.patch_size ** 2
        self.head_local_features = Mlp(idim, 4 * idim, out)

    def forward(self, decout: list[torch.Tensor], grid: tuple[int, int], desc_at: DescRequest = None) -> ViewOutputs:
        """``desc_at``: None computes descriptors at every pixel; a :data:`DescRequest` computes
        them only at the requested pixels (:meth:`local_features_at`; NaN elsewhere)."""
        pts = self.dpt(decout, grid).permute(0, 2, 3, 1)
        cat = torch.cat([decout[0], decout[-1]], dim=-1)
        if desc_at is not None:
            raw = [None if idx is None else self.local_features_at(cat[k], grid, idx) for k, idx in enumerate(desc_at)]
            return sparse_descriptors(geometry_maps(pts, self.cfg), raw, desc_at, self.cfg)
        local = tokens_to_pixels_nhwc(self.head_local_features(cat), grid, self.cfg.patch_size)
        return postprocess(torch.cat([pts, local], dim=-1), self.cfg)

    def local_features_at(self, cat: torch.Tensor, grid: tuple[int, int], idx: torch.Tensor) -> torch.Tensor:
        """The descriptor MLP's raw outputs at some pixels of one view: ``cat`` (N, C_enc + C_dec)
        tokens, ``idx`` (M,) flat pixel indices ``y * W + x`` -> (M, D + two_confs), equal (to
        float32 rounding) to the full map's pixel-shuffled values there.

        Why: ``fc2`` maps each token to D + 1 channels at each of its p^2 pixels (6400 outputs
        of 7168 inputs for MASt3R: 78% of the MLP's work) and the alignment reads ~1% of the
        pixels. ``fc1`` runs on the tokens holding a requested pixel, ``fc2`` only on the
        (D + 1) output rows of each requested pixel, grouped by position within the patch.
        """
        p = self.cfg.patch_size
        tok, _ = pixel_tokens(idx, grid, p)
        mlp = self.head_local_features
        utok = torch.unique(tok)
        hidden = cat.new_zeros(cat.shape[0], mlp.fc1.out_features)
        hidden[utok] = mlp.act(mlp.fc1(cat[utok]))  # fc1 only on the tokens holding a requested pixel
        ch = self.cfg.desc_dim + int(self.cfg.two_confs)
        return project_at(hidden, mlp.fc2.weight, mlp.fc2.bias, ch, grid, p, idx)


def build_head(cfg: NetConfig) -> nn.Module:
    """The geometry head for ``cfg.head_type``."""
    return {"linear": LinearHead, "dpt": DPTHead, "catmlp+dpt": CatMLPDPTHead}[cfg.head_type](cfg)
