"""Validation of a network config read from a file (our checkpoint's JSON), before building.

A config from a file is data from outside: a wrong type, a negative or a huge size must be a
clear error naming the key, what was expected and what was found, never a TypeError from
deep inside torch or an allocator failure. :func:`check_network_json` checks every key of
:class:`~hamst3r_ros.model.config.NetConfig`'s JSON form (``NetConfig.to_json``) against
:data:`NETWORK_SCHEMA`; sizes are bounded well above the largest official models (ViT-L:
1024 wide, 24 deep) and far below what would exhaust memory.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Optional

#: Largest width (embedding, hidden, mask) a config may ask for (ViT-G is 1536).
MAX_WIDTH = 4096
#: Largest number of layers of any transformer part (ViT-L has 24).
MAX_DEPTH = 64
#: Largest number of attention heads.
MAX_HEADS = 64
#: Largest image side in pixels the network may be built for.
MAX_IMAGE_SIDE = 4096
#: Most parameters a config may describe (estimated from its sizes; 8 GB in float32). The
#: full-size MASt3R network has 0.44 G (estimated 0.53 G).
MAX_PARAMETERS = 2_000_000_000


class ConfigValueError(ValueError):
    """A config value of the wrong type or out of range; the message names the key."""


def _describe(v: Any) -> str:
    return f"{v!r} ({type(v).__name__})"


def _int(lo: int, hi: int) -> Callable[[Any], Optional[str]]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return f"an integer in [{lo}, {hi}]"
        return None
    return check


def _number(lo: float, hi: float, lo_open: bool = True) -> Callable[[Any], Optional[str]]:
    def check(v):
        ok = (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
              and (v > lo if lo_open else v >= lo) and v <= hi)
        return None if ok else f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    return check


def _choice(*values) -> Callable[[Any], Optional[str]]:
    def check(v):
        return None if isinstance(v, str) and v in values else f"one of {list(values)}"
    return check


def _int_list(lo: int, hi: int) -> Callable[[Any], Optional[str]]:
    one = _int(lo, hi)

    def check(v):
        if not isinstance(v, (list, tuple)) or not v or len(v) > 8 or any(one(x) for x in v):
            return f"a list of 1-8 integers in [{lo}, {hi}]"
        return None
    return check


def _bool(v) -> Optional[str]:
    return None if isinstance(v, bool) else "true or false"


def _bound(v) -> bool:
    return v in ("inf", "-inf") or (not isinstance(v, bool) and isinstance(v, (int, float))
                                    and math.isfinite(v))


def _mode(*kinds: str, nullable: bool = False) -> Callable[[Any], Optional[str]]:
    """A post-processing triple [kind, vmin, vmax] (bounds: numbers, "inf" or "-inf")."""
    def check(v):
        if v is None and nullable:
            return None
        if (isinstance(v, list) and len(v) == 3 and v[0] in kinds and _bound(v[1]) and _bound(v[2])):
            return None
        return (f"[kind, vmin, vmax] with kind one of {list(kinds)} and numbers, 'inf' or '-inf' as bounds"
                + (", or null" if nullable else ""))
    return check


_OUTPUT_MODE = re.compile(r"^pts3d(\+desc([1-9][0-9]{0,3}))?$")


def _output_mode(v) -> Optional[str]:
    m = _OUTPUT_MODE.match(v) if isinstance(v, str) else None
    if m is None or (m.group(2) and int(m.group(2)) > 1024):
        return "'pts3d' or 'pts3d+descNN' with NN in [1, 1024]"
    return None


def _nullable(check):
    def wrapped(v):
        return None if v is None else (lambda e: e and f"{e}, or null")(check(v))
    return wrapped


DUNE_SCHEMA: dict[str, Callable[[Any], Optional[str]]] = {
    "embed_dim": _int(1, MAX_WIDTH), "depth": _int(1, MAX_DEPTH), "num_heads": _int(1, MAX_HEADS),
    "patch_size": _int(1, 64), "num_register_tokens": _int(0, 64), "image_size": _int(1, MAX_IMAGE_SIDE),
    "mlp_ratio": _number(0, 16),
}

HUMAN_SCHEMA: dict[str, Callable[[Any], Optional[str]]] = {
    "num_queries": _int(1, 1024), "hidden_dim": _int(1, MAX_WIDTH), "num_layers": _int(1, MAX_DEPTH),
    "num_heads": _int(1, MAX_HEADS), "mask_dim": _int(1, MAX_WIDTH), "mask_stride": _int(1, 64),
    "body_model": _choice("anny", "smpl"), "image_refine": _int(0, 1024),
    "fit_pose_prior": _number(0, 1e6, lo_open=False),
}

#: Key -> check (returns what was expected, or None when the value is fine).
NETWORK_SCHEMA: dict[str, Callable[[Any], Optional[str]]] = {
    "backbone": _choice("croco", "dune", "conv"),
    "enc_embed_dim": _int(1, MAX_WIDTH), "enc_depth": _int(0, MAX_DEPTH), "enc_num_heads": _int(1, MAX_HEADS),
    "dec_embed_dim": _int(1, MAX_WIDTH), "dec_depth": _int(1, MAX_DEPTH), "dec_num_heads": _int(1, MAX_HEADS),
    "mlp_ratio": _number(0, 16), "patch_size": _int(1, 64), "rope_freq": _number(0, 1e6),
    "head_type": _choice("linear", "dpt", "catmlp+dpt"), "output_mode": _output_mode,
    "depth_mode": _mode("linear", "square", "exp"), "conf_mode": _mode("exp", "sigmoid", nullable=True),
    "desc_mode": _choice("norm"), "two_confs": _bool,
    "desc_conf_mode": _mode("exp", "sigmoid", nullable=True),
    "dune": None, "human": None,  # nested: checked with DUNE_SCHEMA / HUMAN_SCHEMA
    "image_size": _nullable(_int(1, MAX_IMAGE_SIDE)),
    "conv_widths": _nullable(_int_list(1, MAX_WIDTH)), "conv_blocks": _nullable(_int_list(0, MAX_DEPTH)),
}


def _check_section(d: Any, schema: dict, prefix: str) -> None:
    if not isinstance(d, dict):
        raise ConfigValueError(f"key {prefix!r}: expected an object, found {_describe(d)}")
    unknown = sorted(set(d) - set(schema))
    if unknown:
        raise ConfigValueError(f"key {prefix!r}: unknown keys {unknown}; expected some of {sorted(schema)}")
    for key, check in schema.items():
        if key in d and check is not None:
            expected = check(d[key])
            if expected:
                raise ConfigValueError(f"key '{prefix}.{key}': expected {expected}, found {_describe(d[key])}")


def _divides(d: dict, width: str, heads: str, prefix: str) -> None:
    if width in d and heads in d and d[width] % d[heads]:
        raise ConfigValueError(f"key '{prefix}.{width}': expected a multiple of {heads} ({d[heads]}), "
                               f"found {d[width]}")


def check_network_json(d: Any, prefix: str = "network") -> None:
    """Check a network config in its JSON form (keys may be missing: defaults apply).

    Raises:
        ConfigValueError: the first wrong key, as "key 'network.dec_depth': expected an
            integer in [1, 64], found -3 (int)".
    """
    _check_section(d, NETWORK_SCHEMA, prefix)
    if d.get("dune") is not None:
        _check_section(d["dune"], DUNE_SCHEMA, f"{prefix}.dune")
        _divides(d["dune"], "embed_dim", "num_heads", f"{prefix}.dune")
    if d.get("human") is not None:
        _check_section(d["human"], HUMAN_SCHEMA, f"{prefix}.human")
        _divides(d["human"], "hidden_dim", "num_heads", f"{prefix}.human")
    _divides(d, "dec_embed_dim", "dec_num_heads", prefix)
    if d.get("enc_depth", 12):
        _divides(d, "enc_embed_dim", "enc_num_heads", prefix)
    n = estimated_parameters(d)
    if n > MAX_PARAMETERS:
        raise ConfigValueError(f"key {prefix!r}: expected a network of at most {MAX_PARAMETERS:.1e} parameters, "
                               f"found sizes that make about {n:.1e}")


def estimated_parameters(d: dict) -> float:
    """About how many parameters a (checked) JSON config builds: the transformer blocks
    (attention 4 w^2, cross-attention 4 w^2 more in the decoders, MLP 2 * mlp_ratio * w^2)
    and DUNE's learned position embedding; heads are small next to them."""
    from .config import DuneEncoderConfig, NetConfig

    g = lambda key: d.get(key, getattr(NetConfig, key))  # noqa: E731 - dataclass defaults
    mlp = g("mlp_ratio")
    n = 2 * g("dec_depth") * (8 + 2 * mlp) * g("dec_embed_dim") ** 2
    n += g("enc_depth") * (4 + 2 * mlp) * g("enc_embed_dim") ** 2
    dune = d.get("dune")
    if dune is not None:
        gd = lambda key: dune.get(key, getattr(DuneEncoderConfig, key))  # noqa: E731
        width = gd("embed_dim")
        n += gd("depth") * (4 + 2 * gd("mlp_ratio")) * width ** 2
        n += (gd("image_size") // gd("patch_size")) ** 2 * width
    human = d.get("human")
    if human is not None:
        n += human.get("num_layers", 3) * 12 * human.get("hidden_dim", 256) ** 2
    return float(n)
