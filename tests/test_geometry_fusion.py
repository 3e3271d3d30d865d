"""Fused cloud: attributes carried through, confidence threshold, voxel grid, budget."""
import numpy as np
import pytest

from hamst3r_ros.geometry.alignment import CameraPrior, global_alignment
from hamst3r_ros.geometry.box_room import make_scene, pair_predictions
from hamst3r_ros.geometry.fusion import FusionOptions, fuse, sample_to_size, voxel_select
from hamst3r_ros.human.densepose import aggregate_densepose, body_coord_maps
from hamst3r_ros.geometry.pair_graph import complete_pairs

N = 3


@pytest.fixture(scope="module")
def aligned():
    sc = make_scene(N, 48, 36, seed=7)
    preds = pair_predictions(sc, complete_pairs(N), noise=0.01, outliers=0.05, seed=8)
    res = global_alignment(preds, [f"c{k}" for k in range(N)],
                           [CameraPrior(K=sc.K[v], T_fixed_cam=sc.T_world_cam[v]) for v in range(N)])
    return sc, preds, res


def test_points_carry_their_pixels_colours_and_attributes(aligned):
    sc, preds, res = aligned
    body = body_coord_maps(aggregate_densepose(preds), N)
    cloud = fuse(res, list(sc.colors), list(sc.instance), body, FusionOptions(min_conf=1.0))
    assert cloud.metric and len(cloud) > 0.8 * N * 36 * 48
    r, c = cloud.pixel // 48, cloud.pixel % 48
    np.testing.assert_array_equal(cloud.colors, sc.colors[cloud.view, r, c])
    np.testing.assert_array_equal(cloud.instance, sc.instance[cloud.view, r, c])
    on = cloud.instance == 1
    assert on.any() and np.isnan(cloud.body_coords[~on]).all()
    np.testing.assert_allclose(cloud.body_coords[on], sc.body_coords[cloud.view, r, c][on], atol=1e-5)
    err = np.linalg.norm(cloud.points - sc.points[cloud.view, r, c], axis=1)
    assert np.median(err) < 0.02


def test_threshold_voxel_grid_and_budget_bound_the_cloud(aligned):
    sc, _, res = aligned
    full = fuse(res, list(sc.colors), options=FusionOptions(min_conf=1.0))
    strict = fuse(res, list(sc.colors), options=FusionOptions(min_conf=3.0))
    assert len(strict) < len(full) and strict.confidence.min() >= 3.0
    vox = fuse(res, list(sc.colors), options=FusionOptions(min_conf=1.0, voxel_size=0.1))
    keys = np.floor(vox.points / 0.1).astype(np.int64)
    assert len(np.unique(keys, axis=0)) == len(vox) < len(full)
    capped = fuse(res, list(sc.colors), options=FusionOptions(min_conf=1.0, max_points=500))
    assert len(capped) == 500
    assert capped.confidence.min() >= np.sort(full.confidence)[-500]
    grey = fuse(res, [None] * N, options=FusionOptions(max_points=10))
    assert (grey.colors == 128).all() and np.isnan(grey.body_coords).all() and (grey.instance == 0).all()


def test_voxel_select_keeps_the_most_confident_point_per_cell():
    pts = np.array([[0.01, 0, 0], [0.02, 0, 0], [0.5, 0, 0]])
    keep = voxel_select(pts, np.array([1.0, 2.0, 1.0]), 0.1)
    assert sorted(keep.tolist()) == [1, 2]


def test_images_at_input_resolution_are_resampled_like_the_network_input():
    img = np.arange(8 * 12).reshape(8, 12)
    # 12x8 -> cover 6x3: scale 0.5 -> 6x4, crop half a row top and bottom
    out = sample_to_size(img, (3, 6))
    assert out.shape == (3, 6)
    # output pixel centres land on source positions (2k + 1); nearest = floor
    np.testing.assert_array_equal(out[:, 0], img[[2, 4, 6], 1])


def test_wrong_image_count_or_type_is_named(aligned):
    sc, _, res = aligned
    with pytest.raises(ValueError, match="3 aligned views"):
        fuse(res, [None])
    with pytest.raises(ValueError, match="uint8 RGB"):
        fuse(res, [np.zeros((36, 48, 3), np.float32)] * N)


def test_multi_view_agreement_counts_and_filters(aligned):
    from dataclasses import replace

    from hamst3r_ros.geometry.fusion import view_agreement

    sc, preds, res = aligned
    agree = view_agreement(res, 0.05)
    assert [a.shape for a in agree] == [(36, 48)] * N and max(int(a.max()) for a in agree) == N - 1
    # A surface two cameras see gets agreement; push view 0's depth 30% off and they disagree.
    off = [p.copy() for p in res.points]
    T = res.T_fixed_cam[0]
    off[0] = (T[:3, 3] + 1.3 * (off[0] - T[:3, 3])).astype(np.float32)
    worse = view_agreement(replace(res, points=off), 0.05)
    assert worse[0].mean() < 0.4 * agree[0].mean()
    everything = fuse(res, list(sc.colors), options=FusionOptions(min_conf=1.0))
    strict = fuse(res, list(sc.colors), options=FusionOptions(min_conf=1.0, min_views=1))
    assert 0 < len(strict) < len(everything) and (strict.views_agree >= 1).all()
    assert set(np.unique(everything.views_agree)) <= set(range(N))
    # max_points 0 is no limit
    assert len(fuse(res, list(sc.colors), options=FusionOptions(min_conf=1.0, max_points=0))) == len(everything)
