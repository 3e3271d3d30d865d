"""Training curves of runs (``<out>/history.json`` written by :func:`hamst3r_ros.train.loop.train`):
held-out metrics against process CPU time, as a table and a picture, so runs of a design study
(same data, same CPU budget) can be compared at equal compute.

A history row is one step: ``step``, ``cpu_s`` (process CPU seconds of the recipe so far),
``wall_s``, the step's losses, and at validation steps ``val`` (a
:class:`hamst3r_ros.train.metrics.PairMetrics` as a dict).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

#: Held-out metrics shown, with whether higher is better.
METRICS = (("depth_inlier", True), ("depth_abs_rel", False), ("instance_iou", True), ("body_iou", True),
           ("id_consistency", True), ("densepose_err", False))


@dataclass
class Curve:
    """One run's validation points, in step order.

    Attributes:
        name: the run's folder name.
        steps, cpu_s: (K,) steps and process CPU seconds at each validation.
        values: metric name -> (K,) values (see :data:`METRICS`).
        loss: (K,) mean total training loss over the steps since the previous validation.
    """

    name: str
    steps: list[int]
    cpu_s: list[float]
    values: dict[str, list[float]]
    loss: list[float]


def read_curve(run: str | Path) -> Curve:
    """The curve of a run folder (or of its history.json). Raises ValueError naming the file when
    it is missing, not JSON, or holds no validation."""
    path = Path(run)
    path = path / "history.json" if path.is_dir() else path
    try:
        rows = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a training history ({e.__class__.__name__}); expected <out>/history.json "
                         "of `hamst3r train`") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path}: expected a list of step records")
    curve = Curve(path.parent.name, [], [], {m: [] for m, _ in METRICS}, [])
    since: list[float] = []
    for r in rows:
        since.append(float(r.get("total", float("nan"))))
        if "val" not in r:
            continue
        curve.steps.append(int(r["step"]))
        curve.cpu_s.append(float(r.get("cpu_s", float("nan"))))
        for m, _ in METRICS:
            curve.values[m].append(float(r["val"].get(m, float("nan"))))
        curve.loss.append(sum(since) / len(since))
        since = []
    if not curve.steps:
        raise ValueError(f"{path}: no validation recorded yet (history rows with 'val')")
    return curve


def curves_table(curves: Sequence[Curve]) -> str:
    """Every validation point of every run: step, CPU minutes, loss and the metrics."""
    head = f"{'run':<14}{'step':>6}{'cpu min':>9}{'loss':>8}" + "".join(f"{m:>16}" for m, _ in METRICS)
    lines = [head, "-" * len(head)]
    for c in curves:
        for k in range(len(c.steps)):
            lines.append(f"{c.name:<14}{c.steps[k]:>6}{c.cpu_s[k] / 60:>9.1f}{c.loss[k]:>8.3f}"
                         + "".join(f"{c.values[m][k]:>16.3f}" for m, _ in METRICS))
    return "\n".join(lines)


def curves_picture(curves: Sequence[Curve], path: str | Path, panel: tuple[int, int] = (360, 240)) -> None:
    """A PNG with one panel per metric (x: CPU minutes, y: the metric), one colour per run."""
    from PIL import Image, ImageDraw

    colours = [(230, 80, 60), (60, 150, 230), (90, 190, 90), (220, 170, 40), (170, 90, 210), (90, 200, 200)]
    pw, ph = panel
    cols = 3
    rows = (len(METRICS) + cols - 1) // cols
    img = Image.new("RGB", (cols * pw, rows * ph + 24), (20, 20, 24))
    d = ImageDraw.Draw(img)
    x_max = max(max(c.cpu_s) for c in curves) / 60 or 1.0
    for i, (m, higher) in enumerate(METRICS):
        ox, oy = (i % cols) * pw, (i // cols) * ph
        vals = [v for c in curves for v in c.values[m] if v == v]
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1e-6
        x0, y0, x1, y1 = ox + 40, oy + 20, ox + pw - 10, oy + ph - 25
        d.rectangle((x0, y0, x1, y1), outline=(90, 90, 90))
        d.text((ox + 40, oy + 4), f"{m} ({'higher' if higher else 'lower'} is better)", fill=(230, 230, 230))
        d.text((ox + 2, y0), f"{hi:.2f}", fill=(160, 160, 160))
        d.text((ox + 2, y1 - 10), f"{lo:.2f}", fill=(160, 160, 160))
        d.text((x1 - 60, y1 + 4), f"{x_max:.0f} CPU min", fill=(160, 160, 160))
        for ci, c in enumerate(curves):
            pts = [(x0 + (x1 - x0) * (t / 60) / x_max, y1 - (y1 - y0) * (v - lo) / (hi - lo))
                   for t, v in zip(c.cpu_s, c.values[m]) if v == v]
            if len(pts) > 1:
                d.line(pts, fill=colours[ci % len(colours)], width=2)
            for p in pts:
                d.ellipse((p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2), fill=colours[ci % len(colours)])
    for ci, c in enumerate(curves):
        d.text((10 + 150 * ci, rows * ph + 6), c.name, fill=colours[ci % len(colours)])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
