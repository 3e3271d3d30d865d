"""What the heads of a pair network produce: one typed record per pair batch.

Every head output travels as a :class:`PairHeadOutputs` from the network (``run_heads``) to its
readers: the inference API (which turns it into :class:`~hamst3r_ros.types.PairPrediction`),
training losses and metrics, conformance. The official ``(pred1, pred2)`` dicts exist only at
the official-API boundary (``forward`` / ``pair_forward``), made by :meth:`PairHeadOutputs.official`.

Conventions (as in :mod:`hamst3r_ros.types`): tensors are batched, B pairs; H_v, W_v are the
network input size of view v in pixels; maps are NHWC; both views' points are in view 1's
camera optical frame (x right, y down, z forward), network scale (metres for metric models).
Heads run in float32. Torch lives here, so these records stay inside the model/train layers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple, Optional

import torch


class HumanView(NamedTuple):
    """The human heads' outputs for one view of the pair (see :mod:`.human_heads`).

    Attributes:
        mask_logits: (B, Q, H_v/s, W_v/s) per-query instance mask logits at the mask-embedding
            resolution (s = ``mask_stride``, or 2 with image refinement); query q is the same
            person in both views.
        dp: (B, H_v, W_v, 3) body-template coordinates (DensePose), metres of the rest-pose template.
        body_logits: (B, H_v, W_v) body-mask logit per pixel.
    """

    mask_logits: torch.Tensor
    dp: torch.Tensor
    body_logits: torch.Tensor


@dataclass
class ViewOutputs:
    """Head outputs of one view of a pair batch (view 1 = reference, view 2 = other).

    Attributes:
        pts3d: (B, H_v, W_v, 3) points of this view's pixels in view 1's optical frame.
        conf: (B, H_v, W_v) pointmap confidence (>= vmin, MASt3R's ``1 + exp(x)``), or None
            when the network has no confidence channel.
        desc: (B, H_v, W_v, D) L2-normalised local descriptors, or None (no descriptor head).
        desc_conf: (B, H_v, W_v) descriptor confidence, or None with ``desc``.
        mask_logits, dp, body_logits: the human heads' outputs (see :class:`HumanView`), or
            None when the network has no human heads or they were not run.
    """

    pts3d: torch.Tensor
    conf: Optional[torch.Tensor] = None
    desc: Optional[torch.Tensor] = None
    desc_conf: Optional[torch.Tensor] = None
    mask_logits: Optional[torch.Tensor] = None
    dp: Optional[torch.Tensor] = None
    body_logits: Optional[torch.Tensor] = None

    def with_human(self, human: HumanView) -> "ViewOutputs":
        """This view's geometry with the human heads' outputs added."""
        return replace(self, mask_logits=human.mask_logits, dp=human.dp, body_logits=human.body_logits)

    def take(self, rows) -> "ViewOutputs":
        """The outputs of some pairs of the batch (``rows``: an index tensor, slice or list)."""
        return ViewOutputs(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[rows]
                              for f in fields(self)})

    def geometry(self) -> dict[str, torch.Tensor]:
        """The geometry maps present, under the official head names, in the official order
        (``pts3d, conf, desc, desc_conf``)."""
        maps = {"pts3d": self.pts3d, "conf": self.conf, "desc": self.desc, "desc_conf": self.desc_conf}
        return {k: v for k, v in maps.items() if v is not None}


@dataclass
class PairHeadOutputs:
    """Head outputs of a batch of B ordered pairs (view 1, view 2).

    Attributes:
        view1, view2: per-view outputs; ``view2.pts3d`` is what the official code calls
            ``pts3d_in_other_view`` (view 2's pixels in view 1's frame).
        class_logits: (B, Q, 2) per-query logits (column 0 person, 1 no-object) of the
            pair-consistent instance head, or None without human outputs.
    """

    view1: ViewOutputs
    view2: ViewOutputs
    class_logits: Optional[torch.Tensor] = None

    @property
    def has_human(self) -> bool:
        return self.class_logits is not None

    @property
    def views(self) -> tuple[ViewOutputs, ViewOutputs]:
        return self.view1, self.view2

    def take(self, rows) -> "PairHeadOutputs":
        """The outputs of some pairs of the batch (``rows``: an index tensor, slice or list)."""
        return PairHeadOutputs(self.view1.take(rows), self.view2.take(rows),
                               None if self.class_logits is None else self.class_logits[rows])

    def official(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The official (pred1, pred2) dicts of the geometry heads: view 2's points are keyed
        ``pts3d_in_other_view`` and come last, as the official code leaves them."""
        pred2 = self.view2.geometry()
        pred2["pts3d_in_other_view"] = pred2.pop("pts3d")
        return self.view1.geometry(), pred2
