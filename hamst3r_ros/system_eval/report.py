"""Summaries and tables of ``hamst3r eval-system`` runs.

Pooling (a setting over several scenes, or one scene alone): cloud numbers are means over
frame sets of each set's value (median error, p90, completeness); people counts add up
(recall = matched / true over all sets; ghosts per set; ids per person = mean over true
people matched at least once); camera errors pool every pair of every set; times are means
per set, and sets/s divide the sets by the summed wall (or process CPU) seconds.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from hamst3r_ros.geometry.metrics import mean_average_accuracy
from hamst3r_ros.human.metrics import PeopleMetrics
from hamst3r_ros.system_eval.runner import RunResult

NAN = float("nan")


@dataclass
class Summary:
    """Numbers of one scene or of a pool of scenes, in one setting (units in the names)."""

    scene: str
    setting: str
    sets: int
    cloud_acc_cm: float
    cloud_p90_cm: float
    cloud_compl5: float
    cloud_points: float
    rra5: float
    rra15: float
    rta5: float
    rta15: float
    maa30: float
    s_te: float
    focal_err: float
    reinits: int
    true_per_set: float
    published_per_set: float
    recall: float
    ghosts_per_set: float
    ids_per_person: float
    id_switches: int
    w_mpjpe_mm: float
    pa_mpjpe_mm: float
    stage_s: dict
    sets_per_s: float
    sets_per_cpu_s: float


def _mean(x: Iterable[float]) -> float:
    x = [v for v in x if not math.isnan(v)]
    return float(np.mean(x)) if x else NAN


def summarise(runs: Sequence[RunResult], scene: str) -> Summary:
    """Pool runs of one setting (see the module docstring)."""
    if not runs or len({r.setting for r in runs}) != 1:
        raise ValueError("summarise: give one or more runs of a single setting")
    cloud = [c for r in runs for c in r.cloud]
    people = sum((r.people for r in runs), PeopleMetrics())
    rot = np.array([e for r in runs for e in r.rot_err_deg])
    tra = np.array([e for r in runs for e in r.trans_err_deg])
    posed = rot.size == 0
    stages: dict[str, list[float]] = {}
    for r in runs:
        for k, v in r.stage_s.items():
            stages.setdefault(k, []).extend(v)
    sets = sum(r.sets for r in runs)
    wall, cpu = sum(sum(r.wall_s) for r in runs), sum(sum(r.cpu_s) for r in runs)
    return Summary(
        scene=scene, setting=runs[0].setting, sets=sets,
        cloud_acc_cm=100 * _mean(c.acc_median for c in cloud), cloud_p90_cm=100 * _mean(c.acc_p90 for c in cloud),
        cloud_compl5=_mean(c.completeness for c in cloud), cloud_points=_mean(c.num_points for c in cloud),
        rra5=NAN if posed else float((rot < 5).mean()), rra15=NAN if posed else float((rot < 15).mean()),
        rta5=NAN if posed else float((tra < 5).mean()), rta15=NAN if posed else float((tra < 15).mean()),
        maa30=NAN if posed else mean_average_accuracy(rot, tra),
        s_te=_mean(v for r in runs for v in r.s_te), focal_err=_mean(v for r in runs for v in r.focal_rel_err),
        reinits=sum(r.reinits for r in runs),
        true_per_set=people.true / sets if sets else NAN, published_per_set=people.published_per_set,
        recall=people.recall, ghosts_per_set=people.ghosts_per_set, ids_per_person=people.mean_ids_per_person,
        id_switches=people.id_switches, w_mpjpe_mm=1000 * people.w_mpjpe, pa_mpjpe_mm=1000 * people.pa_mpjpe,
        stage_s={k: _mean(v) for k, v in stages.items()},
        sets_per_s=sets / wall if wall > 0 else NAN, sets_per_cpu_s=sets / cpu if cpu > 0 else NAN)


def summaries(runs: Sequence[RunResult]) -> list[Summary]:
    """One summary per (scene, setting), then one pooled ("all") per setting."""
    out = [summarise([r], r.scene) for r in runs]
    for setting in dict.fromkeys(r.setting for r in runs):
        out.append(summarise([r for r in runs if r.setting == setting], "all"))
    return out


def _fmt(v, digits: int = 2) -> str:
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return "-" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w[i]) for i, h in enumerate(header)), "  ".join("-" * x for x in w)]
    lines += ["  ".join(c.rjust(w[i]) for i, c in enumerate(r)) for r in rows]
    return "\n".join(lines)


def tables(sums: Sequence[Summary]) -> str:
    """Three plain-text tables: cloud and cameras, people, speed."""
    geo = _table(
        ("scene", "setting", "sets", "acc cm", "p90 cm", "compl@5cm", "points", "RRA@5", "RRA@15", "RTA@15",
         "mAA30", "s-TE", "focal err", "re-inits"),
        [(s.scene, s.setting, _fmt(s.sets), _fmt(s.cloud_acc_cm, 1), _fmt(s.cloud_p90_cm, 1), _fmt(s.cloud_compl5),
          _fmt(s.cloud_points, 0), _fmt(s.rra5), _fmt(s.rra15), _fmt(s.rta15), _fmt(s.maa30), _fmt(s.s_te),
          _fmt(s.focal_err), _fmt(s.reinits) if s.setting == "unposed" else "-") for s in sums])
    ppl = _table(
        ("scene", "setting", "true/set", "published/set", "recall", "ghosts/set", "ids/person", "id switches",
         "W-MPJPE mm", "PA-MPJPE mm"),
        [(s.scene, s.setting, _fmt(s.true_per_set), _fmt(s.published_per_set), _fmt(s.recall), _fmt(s.ghosts_per_set),
          _fmt(s.ids_per_person), _fmt(s.id_switches), _fmt(s.w_mpjpe_mm, 0), _fmt(s.pa_mpjpe_mm, 0)) for s in sums])
    stage_names = list(dict.fromkeys(k for s in sums for k in s.stage_s))
    spd = _table(
        ("scene", "setting", *[f"{k} s" for k in stage_names], "sets/s", "sets/CPU-s"),
        [(s.scene, s.setting, *[_fmt(s.stage_s.get(k, NAN), 3) for k in stage_names], _fmt(s.sets_per_s),
          _fmt(s.sets_per_cpu_s)) for s in sums])
    return (f"cloud (published points vs the true surface) and cameras (unposed)\n{geo}\n\n"
            f"people (published = tentative or tracked; matched on the pelvis within 0.5 m)\n{ppl}\n\n"
            f"speed (mean seconds per frame set)\n{spd}")


def system_line(sums: Sequence[Summary]) -> str:
    """The one-line yardstick: unposed RRA@15, then the posed setting's headline numbers."""
    pooled = {s.setting: s for s in sums if s.scene == "all"}
    u, p = pooled.get("unposed"), pooled.get("posed")

    def g(s, name, digits):
        return "nan" if s is None or math.isnan(getattr(s, name)) else f"{getattr(s, name):.{digits}f}"

    return (f"system: rra15={g(u, 'rra15', 2)} cloud_acc_cm={g(p, 'cloud_acc_cm', 1)} "
            f"cloud_compl5={g(p, 'cloud_compl5', 2)} recall={g(p, 'recall', 2)} "
            f"ghosts_per_set={g(p, 'ghosts_per_set', 2)} ids_per_person={g(p, 'ids_per_person', 2)} "
            f"pa_mpjpe_mm={g(p, 'pa_mpjpe_mm', 0)} sets_per_s={g(p, 'sets_per_s', 2)}")


def to_json(sums: Sequence[Summary], meta: dict) -> dict:
    """A JSON-ready document (NaN as null)."""
    def clean(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    return {"meta": meta, "summaries": [{k: clean(v) for k, v in asdict(s).items()} for s in sums],
            "system": system_line(sums)}
