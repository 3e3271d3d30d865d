"""SMPL's 24 joints from Anny's 104 bones: the documented mapping.

Each SMPL joint (names and order of :data:`hamst3r_ros.types.SMPL_JOINT_NAMES`) is the
**head** (proximal end, where it rotates) of one Anny bone, and its global orientation is
that bone's. The bones were chosen by comparing Anny's rest skeleton (default phenotype)
with SMPL's joint heights and widths relative to the pelvis:

=============== ================= ====================================================
SMPL joint      Anny bone (head)  note
=============== ================= ====================================================
pelvis          root              pelvis centre, ~1 cm above the hip joints
left/right_hip  upperleg01.L/.R   femoral head
spine1          spine03           +0.14 m above the pelvis (SMPL: ~+0.11 m)
left/right_knee lowerleg01.L/.R
spine2          spine02           +0.21 m (SMPL: ~+0.24 m)
left/right_ankle foot.L/.R
spine3          spine01           +0.34 m (SMPL: ~+0.30 m)
left/right_foot toe3-1.L/.R       ball of the foot, ~14 cm ahead of the ankle
neck            neck01            base of the neck
left/right_collar clavicle.L/.R   the sternoclavicular joint, ~2 cm off the midline
                                  (SMPL: ~8 cm); shoulder01.L/.R heads (~10 cm) would be
                                  closer but reach the skin surface when the arm is raised
                                  (measured 1-2 mm outside while waving)
head            head              skull base
left/right_shoulder upperarm01.L/.R glenohumeral joint
left/right_elbow lowerarm01.L/.R
left/right_wrist wrist.L/.R
left/right_hand finger3-1.L/.R    middle-finger knuckle, ~9 cm past the wrist
=============== ================= ====================================================

Anny's ``.L`` is the person's left, as SMPL's ``left_``. Unmapped bones (toes, fingers,
eyes, spine04/05, neck02/03, shoulder01.L/.R, twist bones upperarm02/lowerarm02/upperleg02/
lowerleg02, pelvis.L/.R, metacarpals) still move the mesh; they just publish no joint.
"""
from __future__ import annotations

from hamst3r_ros.types import SMPL_JOINT_NAMES

#: SMPL joint name -> Anny bone label (the joint is the bone's head).
SMPL_TO_ANNY_BONE: dict[str, str] = {
    "pelvis": "root",
    "left_hip": "upperleg01.L",
    "right_hip": "upperleg01.R",
    "spine1": "spine03",
    "left_knee": "lowerleg01.L",
    "right_knee": "lowerleg01.R",
    "spine2": "spine02",
    "left_ankle": "foot.L",
    "right_ankle": "foot.R",
    "spine3": "spine01",
    "left_foot": "toe3-1.L",
    "right_foot": "toe3-1.R",
    "neck": "neck01",
    "left_collar": "clavicle.L",
    "right_collar": "clavicle.R",
    "head": "head",
    "left_shoulder": "upperarm01.L",
    "right_shoulder": "upperarm01.R",
    "left_elbow": "lowerarm01.L",
    "right_elbow": "lowerarm01.R",
    "left_wrist": "wrist.L",
    "right_wrist": "wrist.R",
    "left_hand": "finger3-1.L",
    "right_hand": "finger3-1.R",
}
assert tuple(SMPL_TO_ANNY_BONE) == SMPL_JOINT_NAMES


def smpl_joint_bone_indices(bone_labels: list[str]) -> list[int]:
    """Indices into ``bone_labels`` of the 24 SMPL joints, in SMPL order.

    Raises:
        ValueError: naming the missing bone when the rig lacks one of the mapped bones.
    """
    indices = []
    for joint, bone in SMPL_TO_ANNY_BONE.items():
        if bone not in bone_labels:
            raise ValueError(
                f"Anny rig has no bone {bone!r} (needed for SMPL joint {joint!r}); "
                f"expected Anny's default 104-bone rig"
            )
        indices.append(bone_labels.index(bone))
    return indices
