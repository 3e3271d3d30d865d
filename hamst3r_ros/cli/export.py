"""``hamst3r export SRC DST [--fp16]``: copy a checkpoint of ours (safetensors + JSON), e.g.
a training run's ``last.*``, to a new stem, optionally storing the weights as float16 (half
the size; they are cast back to float32 on load). This is how the embedded model is made::

    hamst3r export runs/embedded/last hamst3r_ros/assets/hamst3r_embedded --fp16
"""
from __future__ import annotations

NAME = "export"
HELP = "copy one of our checkpoints (optionally as float16), e.g. a training run into the package assets"


def add_arguments(parser) -> None:
    parser.add_argument("src", help="source checkpoint stem or .safetensors/.json path (ours)")
    parser.add_argument("dst", help="destination stem (writes <dst>.safetensors and <dst>.json)")
    parser.add_argument("--fp16", action="store_true", help="store weights as float16")


def run(args) -> int:
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    from hamst3r_ros.model.checkpoints import CheckpointError, load_hamst3r

    src = Path(args.src)
    stem = src.with_suffix("") if src.suffix in (".safetensors", ".json") else src
    try:
        net = load_hamst3r(stem)
    except CheckpointError as e:
        print(f"error: {e}")
        return 2
    meta = json.loads(stem.with_suffix(".json").read_text())
    state = {}
    seen: dict[int, str] = {}
    for k, v in net.state_dict().items():
        if id(v) in seen:  # shared tensors (aliases) are stored once, as save_hamst3r does
            continue
        seen[id(v)] = k
        state[k] = (v.half() if args.fp16 and v.is_floating_point() else v).contiguous().clone()
    dst = Path(args.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dst.with_suffix(".safetensors")))
    meta["storage_dtype"] = "float16" if args.fp16 else "float32"
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    size = dst.with_suffix(".safetensors").stat().st_size / 2**20
    print(f"wrote {dst.with_suffix('.safetensors')} ({size:.1f} MiB) and {dst.with_suffix('.json')}")
    return 0
