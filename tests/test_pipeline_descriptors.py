"""The pipeline asks the network for descriptors only where the alignment reads them."""
import numpy as np


def test_descriptors_are_computed_only_where_the_alignment_reads_them():
    """The pipeline asks the network for descriptors at the alignment's grid pixels of the first
    pair of each unordered pair: the alignment given only those (NaN elsewhere, None for the
    other direction) finds the same matches and the same solution as with full maps."""
    from dataclasses import replace

    from hamst3r_ros.geometry.alignment import AlignmentOptions, _Problem, global_alignment
    from hamst3r_ros.geometry.box_room import make_scene, pair_predictions
    from hamst3r_ros.geometry.pair_graph import complete_pairs
    from hamst3r_ros.pipeline import descriptor_pixels

    scene = make_scene(4, 64, 48, seed=1)
    pairs = complete_pairs(4)
    preds = pair_predictions(scene, pairs, seed=2, desc_dim=32, noise=0.01, outliers=0.05, scale_range=(0.8, 1.25))
    opts = AlignmentOptions(n_subsample=300)
    ask = descriptor_pixels(pairs, [(48, 64)] * 4, opts.n_subsample)
    assert sorted({(min(pairs[e]), max(pairs[e])) for e in ask}) == [(a, b) for a in range(4) for b in range(a + 1, 4)]
    full = _Problem(preds, 4, opts)

    def only(d, px):
        if d is None:
            return None
        out = np.full_like(d, np.nan).reshape(-1, *d.shape[2:])
        out[px] = d.reshape(-1, *d.shape[2:])[px]
        return out.reshape(d.shape)

    sparse = [replace(p, desc_i=only(p.desc_i, ask[e][0]), desc_j=only(p.desc_j, ask[e][1]),
                      desc_conf_i=only(p.desc_conf_i, ask[e][0]), desc_conf_j=only(p.desc_conf_j, ask[e][1]))
              if e in ask else replace(p, desc_i=None, desc_j=None, desc_conf_i=None, desc_conf_j=None)
              for e, p in enumerate(preds)]
    sp = _Problem(sparse, 4, opts)
    assert len(sp.matches) == len(full.matches) == 6 and sum(len(m[1]) for m in full.matches) > 50
    for a, b in zip(full.matches, sp.matches):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    names = [f"cam{k}" for k in range(4)]
    np.testing.assert_array_equal(global_alignment(preds, names, options=opts).T_fixed_cam,
                                  global_alignment(sparse, names, options=opts).T_fixed_cam)
