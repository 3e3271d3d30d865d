"""Body-model layer: Anny as a differentiable, batched torch model in our frames, SMPL-named
joints, and the rest-pose template that defines the DensePose target.

API (everything in metres; frames in :mod:`hamst3r_ros.body.frames`):

- ``load_anny_body(dtype=torch.float32, device="cpu") -> AnnyBody``: shared model, built
  once per process (first build in ``$ANNY_CACHE_DIR`` ~1 min, then ~2 s).
- ``AnnyBody.forward(shape (B,6), pose (B,103,3) | None, T_world_body (B,4,4) | None)
  -> BodyOutput`` with ``vertices (B,V,3)``, ``joints (B,24,3)`` (SMPL order),
  ``joint_rotations (B,24,3,3)`` (global, relative to the zero pose), ``bone_poses (B,104,4,4)``.
  ``AnnyBody.faces (F,3)``, ``bone_names``,
  ``pose_bone_names`` (103, the rows of ``pose``), ``default_shape(B)``, ``zero_pose(B)``.
  Differentiable in all inputs. ``shape`` = phenotypes in [0,1] named
  ``PHENOTYPE_NAMES`` (gender, age, muscle, weight, height, proportions); ``pose`` =
  per-bone axis-angle in body-frame axes at rest; ``T_world_body`` = the body frame
  (pelvis origin, x forward, y left, z up) in the output frame.
- ``SMPL_TO_ANNY_BONE``: documented SMPL joint -> Anny bone mapping (joint = bone head).
- ``R_BODY_ANNY``, ``anny_to_body``, ``body_to_anny``: Anny's z-up/-y-forward frame vs ours.
- ``anny_template() -> BodyTemplate`` (or ``build_template(body)``): rest template
  ``vertices (V,3)``, ``faces``, per-vertex DensePose target ``coords (V,3)`` in [0,1]
  (isotropic bounding-box normalisation, documented in :mod:`hamst3r_ros.body.template`),
  ``points_to_coords`` / ``coords_to_points``, and ``nearest_vertices(coords (N,3), k)``
  -> (vertex indices, template-metre distances) through a KD-tree, for fitting.

- ``hamst3r_ros.body.smpl_model`` (imported on its own, not from here): SMPL through
  ``smplx`` from user-supplied ``.npz`` files, for checkpoints trained on SMPL templates.
- ``hamst3r_ros.body.fit_interface`` (imported on its own): ``FitBody``, the interface the
  body fitter (:mod:`hamst3r_ros.human.body_fit`) sees a body model through, and its two
  implementations ``AnnyFitBody`` and ``SmplFitBody``.

Importing this package imports only numpy/torch; Anny loads on first use.
"""
from hamst3r_ros.body.anny_model import PHENOTYPE_NAMES, AnnyBody, BodyOutput, load_anny_body, rigid_transform
from hamst3r_ros.body.frames import R_BODY_ANNY, anny_to_body, body_to_anny
from hamst3r_ros.body.joints import SMPL_TO_ANNY_BONE, smpl_joint_bone_indices
from hamst3r_ros.body.template import BodyTemplate, anny_template, build_template

__all__ = [
    "PHENOTYPE_NAMES", "AnnyBody", "BodyOutput", "load_anny_body", "rigid_transform",
    "R_BODY_ANNY", "anny_to_body", "body_to_anny", "SMPL_TO_ANNY_BONE",
    "smpl_joint_bone_indices", "BodyTemplate", "anny_template", "build_template",
]
