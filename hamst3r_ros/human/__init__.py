"""People in 3D: cross-view identities, DensePose aggregation, body fitting, tracking, metrics.

Modules (each has one job; import the one you need):

- ``identities``: per-pair instance queries -> one person id per frame set (2D mask overlap).
- ``densepose``: per-image confidence-weighted DensePose; per-person 3D points with
  body-template coordinates.
- ``body_fit``: the fitter: batched, warm-started robust fit of a body model to those
  points (the body models and the interface it sees them through are in
  :mod:`hamst3r_ros.body`: ``body.fit_interface``).
- ``tracking``: stable ids over time, velocity, track states with timeouts.
- ``heading``: a body's facing, and turning it to face where its person walks.
- ``people``: ``PeopleEstimator``, all of the above per frame set -> ``HumanEstimate`` list.
- ``metrics``: W-/GA-/PA-MPJPE, id switches, fragmentation.
- ``skeleton``: joint positions -> line segments for visualisation.
- ``simulated_network``, ``evaluation``: noisy network-like outputs from synthetic ground
  truth, and the ``hamst3r eval-humans`` sequence evaluation.

Nothing here imports ROS; torch is imported only by the body-fitting modules.
"""
