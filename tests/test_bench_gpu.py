"""bench/bench_gpu.py: without CUDA one line and exit status 2 (no traceback); its measuring
code runs end to end on the CPU with a tiny network, so a GPU session is not spent on a bug."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_without_cuda_is_one_line_and_exit_2():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # hide any GPU: the no-CUDA path runs everywhere
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--sets", "1"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0] and "Traceback" not in out.stderr


def test_bench_gpu_rows_on_cpu_with_a_tiny_network():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "bench_gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.run_net("tiny", 3, 1, None, device="cpu", nets={"tiny": ("hamst3r_tiny", (32, 48))})
    assert [(r["precision"], r["cams"], r["pairs"]) for r in rows] == [("fp32", 3, 6), ("bf16", 3, 6)]
    assert rows[0]["rel_med"] == 0.0 and rows[0]["sets_per_s"] > 0
    # bf16 autocast really changed the numbers, a little
    assert 0.0 < rows[1]["rel_med"] <= rows[1]["rel_p99"] < 0.5
