"""Body-fit time per person per frame set, cold and warm-started, for 1, 3 and 5 people.

Observations are made from ground-truth Anny bodies (random phenotype, pose, heading and
place): 2000 surface points per person with 1 cm point noise and ~1.7 cm DensePose noise.
Cold = no previous solution (robust Umeyama init + ``cold_iterations``); warm = the
previous frame set's solution after everyone moved 5 cm (``warm_iterations``).

    .venv/bin/python bench/bench_humans.py [--device cuda] [--threads 1] [--repeats 3]
        [--people 1 3 5] [--cold-iterations N] [--warm-iterations N] [--solvers adam/adam lm/lm]

Prints a table (times in ms per person per frame set, accuracy in mm), one block of rows per
cold/warm solver pair (``FitConfig.cold_solver`` / ``warm_solver``), on the same people.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hamst3r_ros.human.body_fit import BodyFitter, FitConfig
from hamst3r_ros.human.densepose import PersonPoints
from hamst3r_ros.body.fit_interface import AnnyFitBody
from hamst3r_ros.human.metrics import w_mpjpe


def make_people(body, n, rng):
    shape = torch.tensor(rng.uniform(0.2, 0.8, (n, 6)), dtype=torch.float32, device=body.device)
    pose = torch.tensor(rng.normal(0, 0.25, (n, body.num_fit_joints, 3)), dtype=torch.float32, device=body.device)
    with torch.no_grad():
        v, j, _ = body.pose_body(shape, pose)
    people = []
    for b in range(n):
        a = rng.uniform(-np.pi, np.pi)
        R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
        t = np.array([rng.uniform(-3, 3), rng.uniform(-3, 3), 1.0])
        people.append((v[b].cpu().numpy() @ R.T + t, j[b].cpu().numpy() @ R.T + t))
    return people


def observe(body, people, rng, n=2000):
    obs = []
    for k, (v, _) in enumerate(people):
        sel = rng.choice(len(v), n, replace=False)
        pts = v[sel] + rng.normal(0, 0.01, (n, 3))
        tc = body.template_coords[sel] + rng.normal(0, 0.01, (n, 3))
        obs.append(PersonPoints(k + 1, pts.astype(np.float32), tc.astype(np.float32), np.ones(n, np.float32)))
    return obs


def bench(body, cfg: FitConfig, people_counts, repeats: int, device: str) -> list[tuple]:
    """Rows (people, cold ms/person, warm ms/person, cold W-MPJPE mm, warm W-MPJPE mm)."""
    fitter = BodyFitter(body, cfg)
    rng = np.random.default_rng(0)  # the same people for every configuration
    fitter.fit(observe(body, make_people(body, 1, rng), rng))  # warm-up (allocations, lazy imports)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    for n in people_counts:
        people = make_people(body, n, rng)
        sync()
        t = time.perf_counter()
        fits = fitter.fit(observe(body, people, rng))
        sync()
        cold = (time.perf_counter() - t) / n
        err_cold = w_mpjpe(np.stack([f.joints for f in fits]), np.stack([p[1] for p in people]))
        warm_t, err_warm = [], []
        for _ in range(repeats):
            people = [(v + [0.05, 0.0, 0.0], j + [0.05, 0.0, 0.0]) for v, j in people]
            obs = observe(body, people, rng)
            sync()
            t = time.perf_counter()
            fits = fitter.fit(obs, [f.state for f in fits])
            sync()
            warm_t.append((time.perf_counter() - t) / n)
            err_warm.append(w_mpjpe(np.stack([f.joints for f in fits]), np.stack([p[1] for p in people])))
        rows.append((n, cold * 1e3, np.median(warm_t) * 1e3, err_cold * 1e3, np.mean(err_warm) * 1e3))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads during fits (0 = torch default)")
    ap.add_argument("--repeats", type=int, default=3, help="warm frame sets timed per row")
    ap.add_argument("--people", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--cold-iterations", type=int, default=FitConfig.cold_iterations)
    ap.add_argument("--warm-iterations", type=int, default=FitConfig.warm_iterations)
    ap.add_argument("--solvers", nargs="+", default=["adam/adam", f"{FitConfig.cold_solver}/{FitConfig.warm_solver}"],
                    help="cold/warm solver pairs to compare on the same people (default: Adam only, then the "
                         "defaults)")
    args = ap.parse_args()
    body = AnnyFitBody(device=args.device)
    threads = torch.get_num_threads() if not args.threads else args.threads
    print(f"body fit (Anny, 2000 points/person), device {args.device}, {threads} torch thread(s); "
          f"Adam: {args.cold_iterations} cold / {args.warm_iterations} warm steps, LM: "
          f"{FitConfig.cold_lm_iterations} cold / {FitConfig.warm_lm_iterations} warm steps")
    print(f"{'cold/warm':>10} {'people':>6} {'cold ms/person':>15} {'warm ms/person':>15} {'cold W-MPJPE mm':>16} "
          f"{'warm W-MPJPE mm':>16}")
    for pair in dict.fromkeys(args.solvers):
        cold, _, warm = pair.partition("/")
        cfg = FitConfig(cpu_threads=args.threads or None, cold_iterations=args.cold_iterations,
                        warm_iterations=args.warm_iterations, cold_solver=cold, warm_solver=warm or cold)
        for n, c, w, ec, ew in bench(body, cfg, args.people, args.repeats, args.device):
            print(f"{pair:>10} {n:>6} {c:>15.0f} {w:>15.0f} {ec:>16.1f} {ew:>16.1f}", flush=True)


if __name__ == "__main__":
    main()
