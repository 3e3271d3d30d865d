"""Host/device transfers of the inference API (hamst3r_ros.model.transfer), on the CPU: the
batched path (one flat copy, views into it), used on GPUs, gives the same arrays as per-map
copies; decode_pairs returns numpy maps equal to its tensors."""
from __future__ import annotations

import numpy as np
import torch

from hamst3r_ros.model.hamst3r import build_model
from hamst3r_ros.model.transfer import predictions_to_host, tensors_to_host, to_device
from hamst3r_ros.types import PairPrediction


def test_one_batched_copy_equals_per_tensor_copies_and_keeps_none_shapes_and_dtype():
    g = torch.Generator().manual_seed(0)
    ts = [torch.randn(4, 5, 3, generator=g), None, torch.randn(7, generator=g).double(),
          torch.randn(2, 3, generator=g).bfloat16(), torch.randn(3, 4, generator=g).t()]  # last: not contiguous
    one = tensors_to_host(ts, batched=True)
    each = tensors_to_host(ts, batched=False)
    assert one[1] is None and each[1] is None
    for t, a, b in zip(ts, one, each):
        if t is None:
            continue
        assert a.shape == tuple(t.shape) and a.dtype == np.float32 and b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, t.float().numpy())
    # the batched arrays are views of one host buffer: one copy, not one per map
    def root(a):
        while isinstance(a.base, np.ndarray):
            a = a.base
        return a

    assert len({id(root(a)) for a in one if a is not None}) == 1
    assert len({id(root(a)) for a in each if a is not None}) == 4
    # on the CPU by default: no copy at all, the arrays share the tensors' memory
    t = torch.randn(3, 3)
    (a,) = tensors_to_host([t])
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0


def test_predictions_to_host_moves_every_map_and_keeps_the_indices():
    t = torch.arange(12.0).reshape(2, 2, 3)
    p = PairPrediction(i=2, j=0, pts_i=t, pts_j=2 * t, conf_i=t[..., 0], conf_j=t[..., 1], desc_i=None)
    (h,) = predictions_to_host([p], batched=True)
    assert (h.i, h.j) == (2, 0) and h.desc_i is None and isinstance(h.pts_j, np.ndarray)
    np.testing.assert_array_equal(h.pts_j, 2 * t.numpy())
    np.testing.assert_array_equal(h.conf_j, t[..., 1].numpy())


def test_decode_pairs_numpy_equals_its_tensors_and_uploads_are_float32():
    model = build_model("hamst3r_tiny", seed=0)
    imgs = [torch.rand(3, 32, 48) * 2 - 1, torch.rand(3, 32, 48) * 2 - 1]
    feats = model.encode(imgs)
    as_t = model.decode_pairs(feats, [(0, 1), (1, 0)], as_numpy=False)
    as_np = model.decode_pairs(feats, [(0, 1), (1, 0)])
    for a, b in zip(as_t, as_np):
        assert isinstance(a.pts_i, torch.Tensor) and isinstance(b.pts_i, np.ndarray)
        np.testing.assert_array_equal(a.pts_i.numpy(), b.pts_i)
        np.testing.assert_array_equal(a.inst_j.numpy(), b.inst_j)
    assert model.default_head_chunk == 2
    up = to_device(torch.zeros(2, 3, dtype=torch.uint8), torch.device("cpu"))
    assert up.dtype == torch.float32 and up.device.type == "cpu"
