"""Multi-view inference API: encode each image of a frame set once, decode pairs in batches.

Usage::

    model = Hamst3rModel.from_checkpoint("MASt3R.pth")            # or build_model({...})
    pre = [model.preprocess(f.image) for f in frames]            # keep: maps back to input pixels
    feats = model.encode([p.tensor for p in pre])                # one pass per image
    preds = model.decode_pairs(feats, [(0, 1), (1, 0), (0, 2)])  # list[PairPrediction]

What is shared:

- Every image is encoded exactly once per call to :meth:`Hamst3rModel.encode` (images of the
  same shape go through the encoder as one batch). Its ``decoder_embed`` projection is also
  computed once and reused by every pair the image appears in, in either role.
- :meth:`Hamst3rModel.decode_pairs` groups the requested ordered pairs by (shape of i, shape
  of j) and runs each group through both decoders as one batch (heads in chunks of
  ``head_chunk`` pairs to bound memory). RoPE tables are built once per token grid.
- When both (i, j) and (j, i) are requested, each direction still needs its own decoder
  pass: view 1 goes through ``dec_blocks``/``downstream_head1`` and view 2 through
  ``dec_blocks2``/``downstream_head2``, so (j, i) is not a permutation of (i, j). Only the
  per-image work above is shared. Callers that need one direction should request one.

What is skipped or moved once:

- ``decode_pairs(..., desc_at={pair: (pixels of i, pixels of j)})`` computes descriptors only
  at those pixels of those pairs (the pipeline asks for the alignment's grid); without it every
  pixel of every pair gets them, as officially.
- On a GPU, images are uploaded from pinned memory without blocking, and all predictions of a
  call reach the host in one copy at the end (:mod:`.transfer`).

Different shapes: images of any shape that is a multiple of the patch size work in one set,
including a landscape + portrait pair: each view keeps its own token grid and RoPE
positions; cross-attention between N1 and N2 tokens needs no equal sizes. (The official code
raises ValueError there, and NameError on batched symmetric DUNE pairs; we batch per shape
pair instead.)

Precision: float32 on CPU; on CUDA, encoder and decoder run under bf16 autocast (SDPA picks
fused kernels) and the heads run in float32, as officially.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..types import PairPrediction
from .config import NetConfig, named_config
from .human_heads import upsample_masks
from .outputs import PairHeadOutputs
from .preprocess import Preprocessed, preprocess_image
from .networks import build_net
from .transfer import predictions_to_host, to_device

Grid = tuple[int, int]
#: Which descriptors :meth:`Hamst3rModel.decode_pairs` computes: pair index -> (flat pixel indices
#: ``y * W + x`` of view i, of view j), each an int array (M,) of that view's network input.
DescPixels = Mapping[int, tuple[Sequence[int], Sequence[int]]]


@dataclass
class ImageFeatures:
    """Per-image encoder output, computed once per frame set.

    Attributes:
        enc: (N, C_enc) encoder tokens (decoder input and DPT hook 0), row-major over ``grid``.
        emb: (N, C_dec) ``decoder_embed(enc)``.
        grid: (h, w) token grid.
        image_hw: (H, W) network input size, pixels.
        stem: human-head stem features (``image_refine`` > 0): ((C, H/s, W/s), (C/2, H/2, W/2)),
            else None.
    """

    enc: torch.Tensor
    emb: torch.Tensor
    grid: Grid
    image_hw: tuple[int, int]
    stem: Optional[tuple[torch.Tensor, torch.Tensor]] = None


class Hamst3rModel(nn.Module):
    """A pair network (MASt3R, DUSt3R, DUNE-MASt3R or ours) with the multi-view API.

    Args:
        net: a :class:`~.networks.PairNet` or :class:`~.networks.DunePairNet`.
        device: where to run ("cpu", "cuda", ...).
        autocast_bf16: bf16 autocast for encoder/decoder; default True on CUDA, False on CPU.
    """

    def __init__(self, net: nn.Module, device: Union[str, torch.device] = "cpu", autocast_bf16: Optional[bool] = None):
        super().__init__()
        self.net = net.eval()
        self.device = torch.device(device)
        self.net.to(self.device)
        self.autocast_bf16 = (self.device.type == "cuda") if autocast_bf16 is None else autocast_bf16

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, path, encoder_path=None, device="cpu", autocast_bf16: Optional[bool] = None) -> "Hamst3rModel":
        """Load any supported checkpoint (see :func:`.checkpoints.load_checkpoint`)."""
        from .checkpoints import load_checkpoint

        return cls(load_checkpoint(path, encoder_path), device, autocast_bf16)

    @property
    def cfg(self) -> NetConfig:
        return self.net.cfg

    @property
    def patch_size(self) -> int:
        return self.cfg.patch_size

    @property
    def image_size(self) -> int:
        """Long side the network expects: the config's, else the official one (512 for patch
        16, 518 for patch 14)."""
        if self.cfg.image_size:
            return int(self.cfg.image_size)
        return 518 if self.patch_size == 14 else 512

    def preprocess(self, image: np.ndarray, size: Optional[int] = None) -> Preprocessed:
        """(H, W, 3) uint8 RGB -> network input with the official resize/crop rule for this
        model (see :mod:`.preprocess`); keep the result to map outputs back to input pixels."""
        size = size or self.image_size
        official = self.cfg.image_size is None
        return preprocess_image(image, size, self.patch_size, square_ok=self.patch_size == 14,
                                square224=official)

    @property
    def has_human_heads(self) -> bool:
        """False for official checkpoints: predictions then carry geometry (+ descriptors) only."""
        return bool(self.net.has_human_heads)

    @property
    def body_model(self) -> Optional[str]:
        """Body template of the DensePose coordinates, or None without human heads."""
        return self.cfg.human.body_model if self.has_human_heads else None

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast_bf16)

    # ------------------------------------------------------------------ encode
    @torch.inference_mode()
    def encode(self, images: Sequence[torch.Tensor]) -> list[ImageFeatures]:
        """Encode each image once. ``images``: (3, H, W) or (1, 3, H, W) float in [-1, 1]."""
        imgs = []
        for k, im in enumerate(images):
            im = torch.as_tensor(im)
            if im.dim() == 4 and im.shape[0] == 1:
                im = im[0]
            if im.dim() != 3 or im.shape[0] != 3:
                raise ValueError(f"encode: image {k}: expected (3, H, W) or (1, 3, H, W), found {tuple(im.shape)}")
            h, w = im.shape[-2:]
            if h % self.patch_size or w % self.patch_size:
                raise ValueError(f"encode: image {k}: size {h}x{w} is not a multiple of the patch size {self.patch_size}")
            imgs.append(im)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for k, im in enumerate(imgs):
            by_shape.setdefault(tuple(im.shape[-2:]), []).append(k)
        out: list[Optional[ImageFeatures]] = [None] * len(imgs)
        for hw, idx in by_shape.items():
            batch = to_device(torch.stack([imgs[k] for k in idx]), self.device)  # pinned, non-blocking on CUDA
            with self._autocast():
                enc = self.net.encode(batch)
                emb = self.net.embed(enc)
            stem = self.net.image_features(batch)
            grid = self.net.grid_of(hw)
            for n, k in enumerate(idx):
                out[k] = ImageFeatures(enc[n], emb[n], grid, hw, None if stem is None else tuple(x[n] for x in stem))
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ decode
    @torch.inference_mode()
    def iter_decoded(self, feats: Sequence[ImageFeatures], pairs: Sequence[tuple[int, int]],
                     head_chunk: int = 2, keep_tokens: bool = False, desc_at: Optional[DescPixels] = None):
        """Raw decoding, chunk by chunk: yields ``(pair_indices, heads, dec1, dec2)``.

        ``heads`` is the chunk's :class:`~.outputs.PairHeadOutputs` (batch order =
        ``pair_indices``; human outputs when the network has human heads), ``dec1``/``dec2``
        the per-view decoder block outputs (lists of (b, N, C); last one normed) when
        ``keep_tokens`` else None. Without ``keep_tokens`` only the blocks the heads read
        are kept in memory. ``desc_at``: see :meth:`decode_pairs`.
        """
        n = len(feats)
        for i, j in pairs:
            if not (0 <= i < n and 0 <= j < n):
                raise ValueError(f"decode_pairs: pair ({i}, {j}) out of range for {n} images")
        if head_chunk < 1:
            raise ValueError(f"decode_pairs: head_chunk must be >= 1, found {head_chunk}")
        want = None if desc_at is None else self._desc_request(feats, pairs, desc_at)
        groups: dict[tuple, list[int]] = {}
        for p, (i, j) in enumerate(pairs):
            groups.setdefault((feats[i].grid, feats[j].grid), []).append(p)
        for (g1, g2), idx in groups.items():
            i_s = [pairs[p][0] for p in idx]
            j_s = [pairs[p][1] for p in idx]
            x1 = torch.stack([feats[i].emb for i in i_s])
            x2 = torch.stack([feats[j].emb for j in j_s])
            with self._autocast():
                dec1, dec2 = self.net.decode(x1, g1, x2, g2, None if keep_tokens else self.net.head_layers())
            del x1, x2
            for s in range(0, len(idx), head_chunk):
                sl = slice(s, s + head_chunk)
                e1 = torch.stack([feats[i].enc for i in i_s[sl]])
                e2 = torch.stack([feats[j].enc for j in j_s[sl]])
                d1 = [None if t is None else t[sl] for t in dec1]
                d2 = [None if t is None else t[sl] for t in dec2]
                s1 = s2 = None
                if feats[i_s[0]].stem is not None:
                    s1 = tuple(torch.stack(x) for x in zip(*(feats[i].stem for i in i_s[sl])))
                    s2 = tuple(torch.stack(x) for x in zip(*(feats[j].stem for j in j_s[sl])))
                r1 = r2 = None
                if want is not None:
                    r1 = [want[p][0] for p in idx[sl]]
                    r2 = [want[p][1] for p in idx[sl]]
                heads = self.net.run_heads(e1, d1, g1, e2, d2, g2, stem1=s1, stem2=s2, desc_at1=r1, desc_at2=r2)
                yield idx[sl], heads, (d1 if keep_tokens else None), (d2 if keep_tokens else None)

    def decode_pairs(self, feats: Sequence[ImageFeatures], pairs: Sequence[tuple[int, int]],
                     head_chunk: Optional[int] = None, as_numpy: bool = True,
                     desc_at: Optional[DescPixels] = None) -> list[PairPrediction]:
        """Decode ordered pairs (i, j) of encoded images; one prediction per pair, in order.

        ``head_chunk``: pairs per head batch (heads dominate memory at full resolution; 2
        keeps the full-size MASt3R below the official code's peak on a 4-camera set); None:
        :attr:`default_head_chunk`.
        ``as_numpy``: float32 numpy arrays (True; from a GPU all in one transfer at the end)
        or tensors on the model's device (False).
        ``desc_at``: None (default) computes descriptors at every pixel of every pair, as the
        official code does. A mapping ``{pair index: (pixels of view i, pixels of view j)}``
        (flat indices ``y * W + x``, int arrays) computes them only there, for the pairs it
        names: those pairs' ``desc_*``/``desc_conf_*`` maps keep their (H, W, D) / (H, W)
        shapes with NaN at every other pixel, and the other pairs' are None. With MASt3R's
        MLP descriptor head this skips most of its work (see ``CatMLPDPTHead.local_features_at``).
        """
        results: list[Optional[PairPrediction]] = [None] * len(pairs)
        if head_chunk is None:
            head_chunk = self.default_head_chunk
        for idx, heads, _, _ in self.iter_decoded(feats, pairs, head_chunk, desc_at=desc_at):
            for b, p in enumerate(idx):
                results[p] = self._to_prediction(pairs[p], b, heads, False, desc_at is None or p in desc_at)
        # Kept on the device until every pair is decoded, then one transfer (see .transfer).
        return predictions_to_host(results) if as_numpy else results  # type: ignore[arg-type,return-value]

    @property
    def default_head_chunk(self) -> int:
        """Pairs per head batch when ``decode_pairs`` is not told: 2 on a CPU (the full-size
        heads' activations dominate memory there; batching gains nothing on 2 cores), 8 on a
        GPU (fewer, larger kernels)."""
        return 8 if self.device.type == "cuda" else 2

    def _desc_request(self, feats: Sequence[ImageFeatures], pairs: Sequence[tuple[int, int]],
                      desc_at: DescPixels) -> list[tuple[Optional[torch.Tensor], Optional[torch.Tensor]]]:
        """``desc_at`` checked and as per-pair index tensors on the model's device."""
        want: list[tuple[Optional[torch.Tensor], Optional[torch.Tensor]]] = [(None, None)] * len(pairs)
        for p, views in desc_at.items():
            if not (isinstance(p, (int, np.integer)) and 0 <= p < len(pairs)):
                raise ValueError(f"decode_pairs: desc_at key {p!r} is not a pair index in [0, {len(pairs)})")
            if len(views) != 2:
                raise ValueError(f"decode_pairs: desc_at[{p}] must be (pixels of view i, pixels of view j)")
            req = []
            for v, px in zip(pairs[p], views):
                h, w = feats[v].image_hw
                px = torch.as_tensor(np.asarray(px), dtype=torch.int64).reshape(-1)
                if len(px) and (int(px.min()) < 0 or int(px.max()) >= h * w):
                    raise ValueError(f"decode_pairs: desc_at[{p}]: pixel indices of view {v} must lie in [0, {h * w})")
                req.append(px.to(self.device))
            want[p] = (req[0], req[1])
        return want

    def predict(self, images: Sequence[torch.Tensor], pairs: Sequence[tuple[int, int]], **kw) -> list[PairPrediction]:
        """:meth:`encode` then :meth:`decode_pairs`."""
        return self.decode_pairs(self.encode(images), pairs, **kw)

    @staticmethod
    def _to_prediction(pair, b: int, heads: PairHeadOutputs, as_numpy: bool, with_desc: bool = True) -> PairPrediction:
        """Pair ``b`` of a head batch as a :class:`PairPrediction` (probabilities, not logits);
        descriptors only ``with_desc``."""
        def cv1(t):
            t = t.float()
            return t.cpu().numpy() if as_numpy else t

        def cv(t):
            return None if t is None else cv1(t[b])

        v1, v2 = heads.views
        kw = dict(i=int(pair[0]), j=int(pair[1]), pts_i=cv(v1.pts3d), pts_j=cv(v2.pts3d),
                  conf_i=cv(v1.conf), conf_j=cv(v2.conf))
        if with_desc:
            kw.update(desc_i=cv(v1.desc), desc_j=cv(v2.desc), desc_conf_i=cv(v1.desc_conf), desc_conf_j=cv(v2.desc_conf))
        if heads.has_human:
            # Probabilities at the mask-embedding resolution, upsampled bilinearly to the
            # image (16x fewer sigmoids than upsampling logits first; both are in [0, 1]).
            def masks(v):
                return upsample_masks(v.mask_logits[b:b + 1].sigmoid(), tuple(v.pts3d.shape[1:3]))[0]

            kw.update(inst_i=cv1(masks(v1)), inst_j=cv1(masks(v2)),
                      inst_score=cv(heads.class_logits.softmax(-1)[..., 0]),
                      dp_i=cv(v1.dp), dp_j=cv(v2.dp),
                      body_i=cv(v1.body_logits.sigmoid()), body_j=cv(v2.body_logits.sigmoid()))
        return PairPrediction(**kw)


def build_model(config: Union[dict, str, NetConfig], device="cpu", seed: Optional[int] = None,
                autocast_bf16: Optional[bool] = None) -> Hamst3rModel:
    """A randomly initialised model from a config: a :class:`NetConfig`, its JSON dict (as in
    our checkpoint's ``network`` entry), a name from :data:`.config.NAMED_CONFIGS`, or
    ``{"name": <named config>, <field>: <override>, ...}`` (a ``human`` dict overrides only
    the head fields it names)."""
    if isinstance(config, str):
        cfg = named_config(config)
    elif isinstance(config, NetConfig):
        cfg = config
    elif isinstance(config, dict) and "name" in config:
        base = named_config(config["name"]).to_json()
        for k, v in config.items():
            if k == "human" and isinstance(v, dict) and isinstance(base.get("human"), dict):
                base["human"] = {**base["human"], **v}  # override some head fields, keep the rest
            elif k != "name":
                base[k] = v
        cfg = NetConfig.from_json(base)
    elif isinstance(config, dict):
        cfg = NetConfig.from_json(config)
    else:
        raise TypeError(f"build_model: expected a NetConfig, dict or config name, found {type(config).__name__}")
    if seed is not None:
        torch.manual_seed(seed)
    return Hamst3rModel(build_net(cfg), device, autocast_bf16)
