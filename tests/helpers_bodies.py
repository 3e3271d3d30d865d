"""Test helper: a small synthetic SMPL-format body (no licensed files), shared by the SMPL,
body-fit and people tests.

``toy_smpl_arrays`` is a 24-joint tube body with SMPL's keys, joint order and array shapes
(fewer vertices), whose J_regressor reproduces the joints exactly (metres, y up, facing +z).
"""
import numpy as np

from hamst3r_ros.types import SMPL_PARENTS

#: Rest joints of the toy body (SMPL order, metres, y up, facing +z).
TOY_JOINTS = np.array([
    [0, 0, 0], [0.09, -0.08, 0], [-0.09, -0.08, 0], [0, 0.1, 0], [0.1, -0.48, 0], [-0.1, -0.48, 0],
    [0, 0.23, 0], [0.1, -0.88, 0], [-0.1, -0.88, 0], [0, 0.28, 0], [0.1, -0.93, 0.12],
    [-0.1, -0.93, 0.12], [0, 0.48, 0], [0.07, 0.4, 0], [-0.07, 0.4, 0], [0, 0.62, 0.02],
    [0.17, 0.43, 0], [-0.17, 0.43, 0], [0.42, 0.43, 0], [-0.42, 0.43, 0], [0.67, 0.43, 0],
    [-0.67, 0.43, 0], [0.75, 0.43, 0], [-0.75, 0.43, 0],
], dtype=np.float64)


def _ring(center, axis, radius, n=8):
    axis = axis / np.linalg.norm(axis)
    a = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(axis, a)
    ang = np.arange(n) * 2 * np.pi / n
    return center + radius * (np.cos(ang)[:, None] * a + np.sin(ang)[:, None] * b)


def toy_smpl_arrays(num_betas=10, seed=0):
    """SMPL-format arrays of a tube body: one tube per bone, skinned to the bone's parent joint
    and blended into the child joint near it; a ring around every joint regresses it exactly."""
    rng = np.random.default_rng(seed)
    verts, weights, faces, joint_rows = [], [], [], []
    radius = {0: 0.12, 3: 0.12, 6: 0.12, 9: 0.12, 12: 0.05, 15: 0.09, 1: 0.07, 2: 0.07}
    for j, p in enumerate(SMPL_PARENTS):
        # Ring at the joint itself (regresses the joint), half parent / half joint.
        axis = TOY_JOINTS[j] - TOY_JOINTS[p] if p >= 0 else np.array([0.0, 1.0, 0.0])
        start = len(verts)
        for v in _ring(TOY_JOINTS[j], axis, radius.get(j, 0.05)):
            verts.append(v)
            w = np.zeros(24)
            w[j] += 0.5
            w[max(p, 0)] += 0.5
            weights.append(w)
        joint_rows.append(list(range(start, start + 8)))
        if p < 0:
            continue
        # Tube along the bone p -> j, driven by joint p's rotation (SMPL convention).
        rings = []
        for t in np.linspace(0.15, 0.85, 4):
            c = (1 - t) * TOY_JOINTS[p] + t * TOY_JOINTS[j]
            r = (1 - t) * radius.get(p, 0.05) + t * radius.get(j, 0.05)
            idx = len(verts)
            for v in _ring(c, axis, r):
                verts.append(v)
                w = np.zeros(24)
                blend = max(0.0, (t - 0.6) / 0.4) * 0.5
                w[p] += 1 - blend
                w[j] += blend
                weights.append(w)
            rings.append(idx)
        for r0, r1 in zip(rings[:-1], rings[1:]):
            for k in range(8):
                a, b, c, d = r0 + k, r0 + (k + 1) % 8, r1 + k, r1 + (k + 1) % 8
                faces += [[a, b, c], [b, d, c]]
    v = np.asarray(verts)
    n = len(v)
    jreg = np.zeros((24, n))
    for j, rows in enumerate(joint_rows):
        jreg[j, rows] = 1.0 / len(rows)
    shapedirs = np.zeros((n, 3, num_betas))
    shapedirs[:, 1, 0] = 0.08 * v[:, 1]          # taller / shorter
    shapedirs[:, 0, 1] = 0.08 * v[:, 0]          # wider / narrower
    shapedirs[:, 2, 2] = 0.15 * v[:, 2]          # deeper
    for k in range(3, num_betas):                 # smooth low-amplitude fields
        freq = rng.normal(size=(3, 3)) * 3
        shapedirs[:, :, k] = 0.004 * np.sin(v @ freq)
    kintree = np.stack([np.array(SMPL_PARENTS, dtype=np.int64), np.arange(24)])
    kintree[0, 0] = 4294967295  # how SMPL files mark the root
    return {
        "v_template": v, "shapedirs": shapedirs, "posedirs": np.zeros((n, 3, 207)),
        "J_regressor": jreg, "weights": np.asarray(weights), "kintree_table": kintree,
        "f": np.asarray(faces, dtype=np.int64),
    }
