"""Which float precision to compute in: bf16 autocast only where the hardware makes it fast.

bf16 pays on CUDA GPUs with bf16 support and on x86 CPUs with AMX-BF16 or AVX512-BF16 (oneDNN
then runs bf16 matmuls 4-6x faster than float32). Elsewhere torch emulates bf16 with float32
instructions plus conversions: on an AVX-512 CPU without those extensions a bf16 matmul
measured 58 GFLOP/s against 291 GFLOP/s in float32 (1024^2, 2 threads), five times *slower*.
So ``auto`` must look at the CPU's flags, not only at whether torch accepts bf16.

Precision names: ``"auto"`` (bf16 where fast, else fp32), ``"fp32"``, ``"bf16"`` (forced; on
a CPU without fast bf16 it runs, slowly: useful only to check accuracy).
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
#: /proc/cpuinfo flags that make CPU bf16 matmuls fast (oneDNN AMX / AVX512-BF16 kernels).
FAST_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags of the first processor in ``cpuinfo`` (empty where unreadable:
    not Linux, or a sandbox without /proc)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@functools.lru_cache(maxsize=None)
def cpu_has_fast_bf16() -> bool:
    """True when this CPU has AMX-BF16 or AVX512-BF16 (see :data:`FAST_BF16_CPU_FLAGS`)."""
    return bool(cpu_flags() & set(FAST_BF16_CPU_FLAGS))


def device_has_fast_bf16(device: torch.device | str) -> bool:
    """Whether bf16 autocast speeds up matmuls on ``device`` (CUDA with bf16, or a CPU with
    AMX / AVX512-BF16)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_fast_bf16()
    return False


def resolve_precision(name: str, device: torch.device | str) -> str:
    """``"auto"`` -> ``"bf16"`` or ``"fp32"`` for ``device``; explicit names pass through.

    Raises ValueError naming the expected values for anything else.
    """
    if name not in PRECISIONS:
        raise ValueError(f"precision {name!r}: expected one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if device_has_fast_bf16(device) else "fp32"
    return name


def autocast(device: torch.device | str, precision: str):
    """A bf16 autocast context for ``precision == "bf16"`` (resolved), else a no-op context.

    Weights, optimiser state and losses stay float32: autocast only lowers the matmuls and
    convolutions inside the context.
    """
    device = torch.device(device)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
