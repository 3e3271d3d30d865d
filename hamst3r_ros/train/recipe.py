"""Training recipes as YAML: ``extends:`` chains and seed ranges, resolved to plain dicts.

A recipe file holds :class:`hamst3r_ros.train.loop.TrainConfig` fields, plus two shorthands:

- ``extends: other.yaml`` (relative to this file): start from that recipe's fields (itself
  resolved the same way) and override them with this file's. Lists are replaced, not merged;
  ``train_sets_add`` appends datasets to the inherited ``train_sets`` instead.
- A dataset entry with ``seeds: [first, last]`` (inclusive) stands for one entry per seed:
  ``path`` is formatted with ``{seed}``, and every ``synth`` value given as a list is cycled by
  the seed's index in the range (``num_people: [1, 2, 3]`` -> 1, 2, 3, 1, ...). So 64 scenes are
  one line, and a later stage says which seeds it adds without re-listing the earlier ones.

Paths in each file are made relative to the folder of the file that wrote them, so a recipe
may extend one in another folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

#: TrainConfig fields holding a path (resolved relative to the file that set them).
PATH_KEYS = ("out", "init", "init_encoder")
DATASET_KEYS = ("train_sets", "val_sets", "train_sets_add")


def expand_datasets(entries: list, where: str) -> list[dict]:
    """Dataset entries with ``seeds: [a, b]`` ranges expanded to one entry per seed."""
    out: list[dict] = []
    for e in entries:
        if not isinstance(e, dict):
            raise ValueError(f"{where}: each dataset entry must be a mapping, found {e!r}")
        if "seeds" not in e:
            out.append(dict(e))
            continue
        seeds = e["seeds"]
        if (not isinstance(seeds, list) or len(seeds) != 2 or not all(isinstance(s, int) for s in seeds)
                or seeds[1] < seeds[0]):
            raise ValueError(f"{where}: seeds {seeds!r}: expected [first, last] integers with first <= last")
        if "{seed}" not in str(e.get("path", "")):
            raise ValueError(f"{where}: a 'seeds' entry needs a path containing '{{seed}}', found {e.get('path')!r}")
        synth = e.get("synth", {})
        for k, v in synth.items():
            if isinstance(v, list) and not v:
                raise ValueError(f"{where}: synth.{k}: an empty list cannot be cycled over seeds")
        for i, seed in enumerate(range(seeds[0], seeds[1] + 1)):
            one = {k: v for k, v in e.items() if k not in ("seeds", "synth", "path")}
            one["path"] = e["path"].format(seed=seed)
            if "synth" in e:
                one["synth"] = {k: (v[i % len(v)] if isinstance(v, list) else v) for k, v in synth.items()}
                one["synth"]["seed"] = seed
            out.append(one)
    return out


def _absolute(d: dict, base: Path) -> dict:
    """``d`` with its paths made absolute against ``base`` (the folder of the file that set them)."""
    d = dict(d)
    for k in PATH_KEYS:
        if isinstance(d.get(k), str) and not Path(d[k]).is_absolute():
            d[k] = str((base / d[k]).resolve())
    for k in DATASET_KEYS:
        if k in d:
            if not isinstance(d[k], list):
                raise ValueError(f"{k}: expected a list of dataset entries, found {type(d[k]).__name__}")
            d[k] = [dict(e, path=str((base / e["path"]).resolve())) if isinstance(e, dict) and isinstance(e.get("path"), str)
                    and not Path(e["path"]).is_absolute() else e for e in d[k]]
    return d


def load_recipe(path: str | Path, _seen: tuple = ()) -> dict[str, Any]:
    """The plain TrainConfig dict of a recipe file (``extends`` and seed ranges resolved, paths
    absolute). Errors are ValueErrors naming the file."""
    import yaml

    path = Path(path).resolve()
    if path in _seen:
        raise ValueError(f"{path}: 'extends' loops back to itself ({' -> '.join(p.name for p in _seen + (path,))})")
    if not path.is_file():
        raise ValueError(f"{path}: no such training recipe" + (f" (extended by {_seen[-1]})" if _seen else ""))
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of TrainConfig fields, found {type(raw).__name__}")
    for k in DATASET_KEYS:
        if k in raw:
            raw[k] = expand_datasets(raw[k] or [], f"{path}: {k}")
    raw = _absolute(raw, path.parent)
    parent = raw.pop("extends", None)
    if parent is None:
        base: dict[str, Any] = {}
    elif not isinstance(parent, str):
        raise ValueError(f"{path}: extends: expected a file name, found {parent!r}")
    else:
        base = load_recipe(path.parent / parent, _seen + (path,))
    add = raw.pop("train_sets_add", [])
    merged = {**base, **raw}
    if add:
        merged["train_sets"] = list(merged.get("train_sets", [])) + add
    return merged
