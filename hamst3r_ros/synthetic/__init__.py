"""Synthetic multi-camera human scenes with full ground truth (headless, CPU).

- ``SceneConfig`` / ``SyntheticScene(config).frameset(k) -> FrameSetGT`` (scene.py):
  seeded room + Anny people + cameras; per camera RGB, depth, instance ids, body-template
  coordinates, body mask, K, T_fixed_cam, stamp; per person SMPL-named joints, pose/shape,
  velocity. ``FrameSetGT.to_frameset()`` gives the pipeline's ``types.FrameSet``.
- ``gt_pair_pointmaps(fs, i, j)``, ``backproject_depth`` (pointmaps.py): ground-truth
  pointmaps in DUSt3R's pairwise convention.
- ``write_dataset`` / ``read_frameset`` / ``SyntheticDataset`` (dataset.py): on-disk layout.
- ``preview_mosaic`` (preview.py): one picture per frame set.
"""
