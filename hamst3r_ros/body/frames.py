"""Axis conventions of the body model versus ours.

Anny's own world frame ("anny frame"): metres, right-handed, **z up**, the body faces
**-y** in its rest pose, the person's left side is **+x** (bones suffixed ``.L`` have
x > 0). Identity pose parameters put Anny's root bone head (the pelvis centre) at the
origin.

Our *body frame* (used by every function of :mod:`hamst3r_ros.body`): REP-103 axes, the
same as the fixed frame's convention: **x forward** (where the person faces), **y left**,
**z up**; origin at the root bone head (pelvis centre). A person placed with pose
``T_fixed_body = I`` therefore stands at the fixed-frame origin, upright, looking along the
fixed frame's +x. Camera optical frames (x right, y down, z forward) only appear in
:mod:`hamst3r_ros.synthetic`; nothing here depends on them.
"""
from __future__ import annotations

import numpy as np

#: (3, 3) rotation mapping anny-frame vectors to body-frame vectors:
#: ``v_body = R_BODY_ANNY @ v_anny``. Anny -y (front) -> body +x, anny +x (left) -> body +y,
#: anny +z (up) -> body +z; a +90 degree rotation about z.
R_BODY_ANNY: np.ndarray = np.array(
    [[0.0, -1.0, 0.0],
     [1.0, 0.0, 0.0],
     [0.0, 0.0, 1.0]],
    dtype=np.float64,
)


def anny_to_body(points_anny: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) anny-frame points/vectors into the body frame (same origin)."""
    return np.asarray(points_anny) @ R_BODY_ANNY.T


def body_to_anny(points_body: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) body-frame points/vectors into the anny frame (same origin)."""
    return np.asarray(points_body) @ R_BODY_ANNY
