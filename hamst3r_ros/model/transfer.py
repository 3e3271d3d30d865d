"""Host <-> device transfers of the inference API: pinned, non-blocking uploads and one
download per frame set.

Why: on a GPU, copying each output map of each pair to the host as it is decoded costs a
blocking copy (and a device sync) per map: 8 or more per pair, 56 pairs for 8 cameras. Here
the predictions stay on the device until the whole frame set is decoded, then every map goes
to the host in one copy into page-locked (pinned) memory, with one synchronisation. On a CPU
device nothing is copied: the arrays are views of the tensors, as before.

Everything here takes and returns plain tensors / arrays / :class:`~hamst3r_ros.types.PairPrediction`
records and runs on any device (the tests run it on the CPU, where ``batched=True`` takes the
GPU code path without pinning).
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Optional, Sequence

import numpy as np
import torch

from ..types import PairPrediction


def to_device(t: torch.Tensor, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Upload a host tensor: on CUDA from pinned memory without blocking the host (the copy is
    ordered on the current stream before the kernels that read it); elsewhere a plain ``to``."""
    device = torch.device(device)
    t = t.to(dtype)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def tensors_to_host(tensors: Sequence[Optional[torch.Tensor]], batched: Optional[bool] = None) -> list[Optional[np.ndarray]]:
    """float32 numpy arrays of ``tensors`` (None stays None), same shapes.

    ``batched`` (default: when any tensor is off the CPU): flatten all into one device buffer,
    copy it to the host in one non-blocking copy (into pinned memory on CUDA), synchronise once,
    and return views of that host buffer. Otherwise each CPU tensor is viewed as numpy (no copy).
    """
    present = [t for t in tensors if t is not None]
    if batched is None:
        batched = any(t.device.type != "cpu" for t in present)
    if not batched or not present:
        return [None if t is None else t.detach().float().cpu().numpy() for t in tensors]
    dev = present[0].device
    flat = torch.cat([t.detach().reshape(-1).float().to(dev) for t in present])
    host = torch.empty(flat.shape, dtype=torch.float32, pin_memory=dev.type == "cuda")
    host.copy_(flat, non_blocking=dev.type == "cuda")
    if dev.type == "cuda":
        torch.cuda.current_stream(dev).synchronize()
    buf = host.numpy()
    out: list[Optional[np.ndarray]] = []
    start = 0
    for t in tensors:
        if t is None:
            out.append(None)
            continue
        n = t.numel()
        out.append(buf[start:start + n].reshape(tuple(t.shape)))
        start += n
    return out


#: PairPrediction fields that hold maps (everything but the view indices).
_MAP_FIELDS = tuple(f.name for f in fields(PairPrediction) if f.name not in ("i", "j"))


def predictions_to_host(preds: Sequence[PairPrediction], batched: Optional[bool] = None) -> list[PairPrediction]:
    """Predictions whose maps are tensors (on any device) -> the same predictions with float32
    numpy maps, all moved in one transfer (see :func:`tensors_to_host`)."""
    flat = [getattr(p, name) for p in preds for name in _MAP_FIELDS]
    host = tensors_to_host(flat, batched)
    out = []
    k = 0
    for p in preds:
        kw = dict(zip(_MAP_FIELDS, host[k:k + len(_MAP_FIELDS)]))
        k += len(_MAP_FIELDS)
        out.append(replace(p, **kw))
    return out
