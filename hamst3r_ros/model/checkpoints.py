"""Load official MASt3R / DUSt3R / DUNE / DUNE-MASt3R checkpoints and our own format.

Security: torch files are read with ``torch.load(weights_only=True)``; the only global
allowlisted (for that one call, not process-wide) is ``argparse.Namespace``, which official
files carry in ``ckpt['args']``. A file that needs anything else (e.g. a pickle whose
``__reduce__`` calls ``os.system``) is refused with :class:`CheckpointError`. Constructor
strings (``ckpt['args'].model``, ``ckpt['mast3r_model_str']``) are parsed with ``ast`` —
known class names and literal keyword values only — never evaluated.

Formats:
- official MASt3R/DUSt3R ``.pth`` (optionally ``.xz``-compressed; decompressed in memory):
  ``{'model': state_dict, 'args': Namespace(model="AsymmetricMASt3R(...)", ...)}``;
- DUNE encoder ``.pth``: ``{'model': {'encoder.*', 'projectors.*', 'teacher_norms.*'}, 'args'}``;
- DUNE-MASt3R decoder ``.pth``: ``{'model': {'norm.*', 'mast3r.*'}, 'dune_backbone_name',
  'mast3r_model_str'}``, used together with a DUNE encoder file;
- ours: ``<stem>.safetensors`` + ``<stem>.json``; the JSON holds the :class:`NetConfig`
  (``network``) and the body template the human heads were trained on (``body_model``).
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import lzma
import math
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from .config import INF, DuneEncoderConfig, NetConfig
from .config_schema import check_network_json
from .encoder import DuneModel, DuneViT
from .networks import DunePairNet, PairNet, build_net

PathLike = Union[str, Path]
FORMAT_NAME = "hamst3r_ros"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and what was wrong."""


# ------------------------------------------------------------------ reading torch files

def read_torch_file(path: PathLike) -> dict:
    """Load a torch checkpoint dict safely (``.xz`` files are decompressed in memory)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    data: Union[Path, io.BytesIO] = path
    if path.suffix == ".xz":
        try:
            data = io.BytesIO(lzma.decompress(path.read_bytes()))
        except lzma.LZMAError as e:
            raise CheckpointError(f"{path}: not a valid .xz file ({e})") from None
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(data, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        import re

        found = re.findall(r"GLOBAL ([\w.]+)", str(e)) or re.findall(r"global[: ]+([\w.]+)", str(e), re.I)
        what = ", ".join(dict.fromkeys(found)) if found else "an unsupported pickle construct"
        raise CheckpointError(
            f"{path}: refused to load: the file needs Python globals beyond argparse.Namespace ({what}), which "
            f"could run arbitrary code. Expected an official MASt3R/DUSt3R/DUNE checkpoint.") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: expected a dict with a 'model' state dict, found {found}")
    return ckpt


# ------------------------------------------------------------------ constructor strings

#: Official class names whose constructor strings we understand.
KNOWN_CLASSES = ("AsymmetricMASt3R", "AsymmetricCroCo3DStereo")

_NAMES = {"inf": INF, "nan": math.nan, "True": True, "False": False, "None": None}


def _literal(node: ast.AST, src: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand, src)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, (ast.Tuple, ast.List)):
        vals = [_literal(e, src) for e in node.elts]
        return tuple(vals) if isinstance(node, ast.Tuple) else vals
    if isinstance(node, ast.Dict):
        return {_literal(k, src): _literal(v, src) for k, v in zip(node.keys, node.values)}
    raise ValueError(f"not a literal: {ast.get_source_segment(src, node)!r}")


def parse_constructor(text: str, known: tuple[str, ...] = KNOWN_CLASSES) -> tuple[str, dict[str, Any]]:
    """``"Cls(a=1, b=('exp', -inf, inf))"`` -> ``("Cls", {...})`` without evaluating anything.

    Only a call of a name in ``known`` with keyword arguments whose values are literals
    (numbers, strings, tuples, lists, dicts, True/False/None, inf, nan) is accepted.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"constructor string is not valid Python syntax: {e.msg}") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ValueError("constructor string: expected 'ClassName(keyword=value, ...)'")
    if call.func.id not in known:
        raise ValueError(f"constructor string: unknown class {call.func.id!r}; expected one of {list(known)}")
    if call.args:
        raise ValueError("constructor string: positional arguments are not supported, expected keywords only")
    kwargs = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ValueError("constructor string: '**' arguments are not supported")
        try:
            kwargs[kw.arg] = _literal(kw.value, text)
        except ValueError as e:
            raise ValueError(f"constructor string: argument {kw.arg!r}: {e}") from None
    return call.func.id, kwargs


# Official constructor defaults (CroCoNet + AsymmetricCroCo3DStereo + AsymmetricMASt3R).
_OFFICIAL_DEFAULTS = dict(
    output_mode="pts3d", head_type="linear", depth_mode=("exp", -INF, INF), conf_mode=("exp", 1, INF),
    enc_embed_dim=768, enc_depth=12, enc_num_heads=12, dec_embed_dim=512, dec_depth=8, dec_num_heads=16,
    mlp_ratio=4.0, patch_size=16, pos_embed="cosine", desc_mode="norm", two_confs=False, desc_conf_mode=None,
)
# Accepted, with no effect on inference.
_IGNORED = {"img_size", "freeze", "landscape_only", "mask_ratio", "norm_im2_in_dec", "patch_embed_cls"}
_PATCH_EMBEDS = {"PatchEmbedDust3R", "ManyAR_PatchEmbed"}


def config_from_constructor(text: str) -> NetConfig:
    """A :class:`NetConfig` from an official ``AsymmetricMASt3R(...)``/``AsymmetricCroCo3DStereo(...)`` string."""
    cls, kw = parse_constructor(text)
    if cls == "AsymmetricCroCo3DStereo":
        for k in ("desc_mode", "two_confs", "desc_conf_mode"):
            if k in kw:
                raise ValueError(f"constructor string: {cls} takes no argument {k!r}")
    unknown = sorted(set(kw) - set(_OFFICIAL_DEFAULTS) - _IGNORED)
    if unknown:
        raise ValueError(f"constructor string: unsupported arguments {unknown} for {cls}")
    if kw.get("patch_embed_cls", "PatchEmbedDust3R") not in _PATCH_EMBEDS:
        raise ValueError(f"constructor string: patch_embed_cls {kw['patch_embed_cls']!r}; "
                         f"expected one of {sorted(_PATCH_EMBEDS)}")
    if kw.get("norm_im2_in_dec", True) is not True:
        raise ValueError("constructor string: norm_im2_in_dec=False is not supported (official models use True)")
    a = {**_OFFICIAL_DEFAULTS, **{k: v for k, v in kw.items() if k not in _IGNORED}}
    pe = a.pop("pos_embed")
    if not (isinstance(pe, str) and pe.startswith("RoPE")):
        raise ValueError(f"constructor string: pos_embed {pe!r}; only RoPE position embeddings ('RoPE100') are supported")
    try:
        freq = float(pe[len("RoPE"):])
    except ValueError:
        raise ValueError(f"constructor string: pos_embed {pe!r}; expected 'RoPE<freq>'") from None
    if cls == "AsymmetricCroCo3DStereo" and a["head_type"] == "catmlp+dpt":
        raise ValueError("constructor string: head 'catmlp+dpt' needs AsymmetricMASt3R")
    return NetConfig(backbone="croco", rope_freq=freq, **a)


# ------------------------------------------------------------------ checked state loading

def _shape(t) -> tuple:
    return tuple(t.shape)


def load_state_checked(module: nn.Module, state: dict, file: PathLike, what: str,
                       ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Strict ``load_state_dict`` whose errors name the file, the key, expected vs found.

    Keys of ``module`` starting with ``ignore_prefixes`` are not expected in ``state``.
    """
    expected = {k: v for k, v in module.state_dict().items() if not k.startswith(ignore_prefixes)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        raise CheckpointError(f"{file}: {what}: missing key {missing[0]!r} (expected shape {_shape(expected[missing[0]])})"
                              + (f" and {len(missing) - 1} more missing keys" if len(missing) > 1 else ""))
    if unexpected:
        raise CheckpointError(f"{file}: {what}: unexpected key {unexpected[0]!r} (shape {_shape(state[unexpected[0]])})"
                              + (f" and {len(unexpected) - 1} more unexpected keys" if len(unexpected) > 1 else ""))
    for k, v in expected.items():
        got = state[k]
        if not isinstance(got, torch.Tensor):
            raise CheckpointError(f"{file}: {what}: key {k!r}: expected a tensor, found {type(got).__name__}")
        if _shape(got) != _shape(v):
            raise CheckpointError(f"{file}: {what}: key {k!r}: expected shape {_shape(v)}, found {_shape(got)}")
        if not got.is_floating_point():
            raise CheckpointError(f"{file}: {what}: key {k!r}: expected a floating-point tensor, found {got.dtype}")
    module.load_state_dict({k: state[k] for k in expected}, strict=not ignore_prefixes)


# ------------------------------------------------------------------ official MASt3R / DUSt3R

def load_official_pair_net(path: PathLike, ckpt: Optional[dict] = None) -> PairNet:
    """An official MASt3R/DUSt3R ``.pth`` (or ``.pth.xz``) -> :class:`PairNet` in eval mode."""
    ckpt = read_torch_file(path) if ckpt is None else ckpt
    args = ckpt.get("args")
    text = getattr(args, "model", None) if args is not None else None
    if not isinstance(text, str):
        raise CheckpointError(f"{path}: expected ckpt['args'].model to be the constructor string, found {type(text).__name__}")
    try:
        cfg = config_from_constructor(text)
    except ValueError as e:
        raise CheckpointError(f"{path}: ckpt['args'].model: {e}") from None
    net = PairNet(cfg)
    load_state_checked(net, ckpt["model"], path, "MASt3R/DUSt3R state dict")
    return net.eval()


# ------------------------------------------------------------------ DUNE

_DUNE_ARCHS = {"vit_small": (384, 12, 6), "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16)}
_DUNE_ENC_OK = {"arch", "embed_dim", "depth", "num_heads", "patch_size", "num_register_tokens", "image_size",
                "mlp_ratio", "drop_path_rate", "drop_path_uniform", "layerscale", "init_values", "qkv_bias",
                "proj_bias", "ffn_bias", "ffn_layer", "block_chunks", "interpolate_antialias",
                "interpolate_offset", "pretrained"}


def _strip_prefixes(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        for p in ("module.", "_orig_mod."):
            k = k.replace(p, "")
        out[k] = v
    return out


def _as_dict(v: Any, what: str, path: PathLike) -> dict:
    if isinstance(v, str):
        try:
            v = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            raise CheckpointError(f"{path}: ckpt['args'].{what}: expected a dict literal, found {v!r}") from None
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise CheckpointError(f"{path}: ckpt['args'].{what}: expected a dict, found {type(v).__name__}")
    return v


def dune_config_from_args(args: Any, path: PathLike) -> DuneEncoderConfig:
    """DUNE encoder config from the training Namespace (``enc_args``, ``image_size``)."""
    enc = _as_dict(getattr(args, "enc_args", {}), "enc_args", path)
    bad = sorted(set(enc) - _DUNE_ENC_OK)
    if bad:
        raise CheckpointError(f"{path}: ckpt['args'].enc_args: unsupported options {bad}")
    if enc.get("ffn_layer", "mlp") != "mlp" or enc.get("layerscale", True) is False or enc.get("qkv_bias", True) is False:
        raise CheckpointError(f"{path}: ckpt['args'].enc_args: only DUNE's mlp/layerscale/qkv-bias blocks "
                              f"are supported, found {enc}")
    arch = enc.get("arch", "vit_base")
    if arch in _DUNE_ARCHS:
        dim, depth, heads = _DUNE_ARCHS[arch]
    elif arch == "DinoVisionTransformer":
        dim, depth, heads = enc.get("embed_dim", 768), enc.get("depth", 12), enc.get("num_heads", 12)
    else:
        raise CheckpointError(f"{path}: ckpt['args'].enc_args: unknown arch {arch!r}; expected one of "
                              f"{sorted(_DUNE_ARCHS) + ['DinoVisionTransformer']}")
    image_size = int(getattr(args, "image_size", enc.get("image_size", 448)))
    return DuneEncoderConfig(embed_dim=dim, depth=depth, num_heads=heads, patch_size=int(enc.get("patch_size", 14)),
                             num_register_tokens=int(enc.get("num_register_tokens", 4)), image_size=image_size,
                             mlp_ratio=float(enc.get("mlp_ratio", 4.0)))


def _read_dune(path: PathLike) -> tuple[DuneEncoderConfig, dict, Any]:
    ckpt = read_torch_file(path)
    if "args" not in ckpt:
        raise CheckpointError(f"{path}: expected a DUNE checkpoint with keys 'model' and 'args', found {sorted(ckpt)}")
    state = _strip_prefixes(ckpt["model"])
    return dune_config_from_args(ckpt["args"], path), state, ckpt["args"]


def load_dune_encoder(path: PathLike) -> DuneViT:
    """A DUNE checkpoint -> its encoder (keys containing ``encoder.``, that part removed)."""
    cfg, state, _ = _read_dune(path)
    enc_state = {k.replace("encoder.", ""): v for k, v in state.items() if "encoder." in k}
    if not enc_state:
        raise CheckpointError(f"{path}: expected DUNE encoder keys ('encoder.*'), found none among {len(state)} keys")
    enc = DuneViT(cfg)
    load_state_checked(enc, enc_state, path, "DUNE encoder")
    return enc.eval()


def load_dune_model(path: PathLike) -> DuneModel:
    """A full DUNE checkpoint -> encoder + teacher projectors (``teacher_norms`` are skipped)."""
    cfg, state, args = _read_dune(path)
    teachers = list(getattr(args, "teachers", []))
    proj = _as_dict(getattr(args, "proj_args", {}), "proj_args", path)
    model = DuneModel(cfg, teachers, int(proj.get("num_heads", cfg.num_heads)))
    state = {k: v for k, v in state.items() if not k.startswith("teacher_norms.")}
    load_state_checked(model, state, path, "DUNE model")
    return model.eval()


def load_dune_mast3r(decoder_path: PathLike, encoder_path: PathLike, ckpt: Optional[dict] = None) -> DunePairNet:
    """DUNE-MASt3R from its decoder file (``norm.*``, ``mast3r.*``) and the DUNE encoder file."""
    ckpt = read_torch_file(decoder_path) if ckpt is None else ckpt
    text = ckpt.get("mast3r_model_str")
    if not isinstance(text, str):
        raise CheckpointError(f"{decoder_path}: expected a DUNE-MASt3R file with a 'mast3r_model_str' string, "
                              f"found keys {sorted(ckpt)}")
    encoder = load_dune_encoder(encoder_path)
    try:
        inner = config_from_constructor(text)
    except ValueError as e:
        raise CheckpointError(f"{decoder_path}: mast3r_model_str: {e}") from None
    cfg = replace(inner, backbone="dune", patch_size=encoder.cfg.patch_size, dune=encoder.cfg)
    if cfg.enc_embed_dim != encoder.cfg.embed_dim:
        raise CheckpointError(f"{decoder_path}: mast3r_model_str has enc_embed_dim={cfg.enc_embed_dim}, but the DUNE "
                              f"encoder {encoder_path} has width {encoder.cfg.embed_dim}: expected them equal")
    net = DunePairNet(cfg)
    load_state_checked(net, ckpt["model"], decoder_path, "DUNE-MASt3R state dict", ignore_prefixes=("dune_backbone.",))
    net.dune_backbone.load_state_dict(encoder.state_dict())
    return net.eval()


# ------------------------------------------------------------------ our own format

def _paths(path: PathLike) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_hamst3r(net: nn.Module, path: PathLike, extra: Optional[dict] = None) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` (weights) + ``<stem>.json`` (config). Returns both paths."""
    from safetensors.torch import save_model

    st, js = _paths(path)
    cfg: NetConfig = net.cfg
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "network": cfg.to_json(),
            "body_model": cfg.human.body_model if cfg.human else None, **(extra or {})}
    save_model(net, str(st))
    js.write_text(json.dumps(meta, indent=2))
    return st, js


def load_hamst3r(path: PathLike) -> nn.Module:
    """Our format: ``<stem>.safetensors`` + ``<stem>.json`` -> network in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    st, js = _paths(path)
    for p in (st, js):
        if not p.is_file():
            raise CheckpointError(f"{p}: no such file (a hamst3r checkpoint is {st.name} + {js.name})")
    cfg = read_hamst3r_config(js)
    try:
        net = build_net(cfg)
    except (MemoryError, RuntimeError) as e:  # the allocator: sizes within bounds, memory not
        raise CheckpointError(f"{js}: cannot build the network it describes ({e})") from None
    try:
        state = load_file(str(st))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{st}: not a readable safetensors file ({e})") from None
    _restore_shared(net, state)
    load_state_checked(net, state, st, "hamst3r state dict")
    return net.eval()


def read_hamst3r_config(js: PathLike) -> NetConfig:
    """The validated network config of our checkpoint's JSON file.

    Raises:
        CheckpointError: one line naming the file, the key, what was expected and what was
            found (not JSON, wrong format or version, a value of the wrong type, a negative
            or huge size: see :mod:`hamst3r_ros.model.config_schema`).
    """
    js = Path(js)
    try:
        meta = json.loads(js.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{js}: not valid JSON ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{js}: cannot read it ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{js}: expected a JSON object with 'format', 'version' and 'network', "
                              f"found a {type(meta).__name__}")
    if meta.get("format") != FORMAT_NAME or "network" not in meta:
        raise CheckpointError(f"{js}: expected a config with format {FORMAT_NAME!r} and a 'network' entry, found "
                              f"format {meta.get('format')!r}, keys {sorted(meta)}")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{js}: format version {meta.get('version')!r}; expected {FORMAT_VERSION}")
    try:
        check_network_json(meta["network"])
        return NetConfig.from_json(meta["network"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{js}: {e}") from None


def _restore_shared(net: nn.Module, state: dict) -> None:
    """safetensors stores each shared tensor once (DPT layer_rn.i == layer{i+1}_rn): restore
    every name of a shared parameter from whichever name was stored."""
    groups: dict[int, list[str]] = {}
    for k, v in net.state_dict(keep_vars=True).items():
        groups.setdefault(id(v), []).append(k)
    for names in groups.values():
        have = [k for k in names if k in state]
        for k in names:
            if k not in state and have:
                state[k] = state[have[0]]


# ------------------------------------------------------------------ dispatch

def load_checkpoint(path: PathLike, encoder_path: Optional[PathLike] = None) -> nn.Module:
    """Any supported network checkpoint -> network in eval mode.

    ``path`` is ours (``.safetensors``/``.json``), an official MASt3R/DUSt3R ``.pth[.xz]``,
    or a DUNE-MASt3R decoder file (then ``encoder_path`` is the DUNE encoder file).
    """
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        return load_hamst3r(p)
    ckpt = read_torch_file(p)
    ckpt_keys = sorted(ckpt)
    if "mast3r_model_str" in ckpt_keys:
        if encoder_path is None:
            raise CheckpointError(f"{p}: a DUNE-MASt3R decoder file needs the DUNE encoder checkpoint too (encoder_path)")
        return load_dune_mast3r(p, encoder_path, ckpt)
    if "args" in ckpt_keys:
        return load_official_pair_net(p, ckpt)
    raise CheckpointError(f"{p}: unrecognised checkpoint: keys {ckpt_keys}; expected an official MASt3R/DUSt3R "
                          f"file ('model', 'args') or a DUNE-MASt3R file ('model', 'mast3r_model_str')")
