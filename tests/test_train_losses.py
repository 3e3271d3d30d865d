"""The HAMSt3R training losses on hand-made cases with known answers."""
import torch

from hamst3r_ros.train.losses import (
    body_mask_loss, densepose_l2_loss, matching_infonce_loss, pointmap_regression_loss,
    two_view_instance_loss,
)

torch.manual_seed(0)


def _pair_points(b=2, h=6, w=8):
    gt1 = torch.randn(b, h, w, 3) + torch.tensor([0, 0, 4.0])
    gt2 = torch.randn(b, h, w, 3) + torch.tensor([0, 0, 5.0])
    valid = [torch.ones(b, h, w, dtype=torch.bool)] * 2
    return [gt1, gt2], valid


def test_regression_is_scale_invariant_and_penalises_errors():
    gt, valid = _pair_points()
    conf = [torch.full(gt[0].shape[:3], 2.0)] * 2
    _, err_scaled = pointmap_regression_loss([g * 3.7 for g in gt], conf, gt, valid)
    assert err_scaled.item() < 1e-5
    _, err_noisy = pointmap_regression_loss([g + 0.3 * torch.randn_like(g) for g in gt], conf, gt, valid)
    assert err_noisy.item() > 1e-2


def test_regression_confidence_term_and_invalid_pixels():
    gt, valid = _pair_points()
    pred = [g + 0.5 * torch.randn_like(g) for g in gt]
    # Invalid pixels must not contribute: corrupt them wildly and mask them out.
    bad = [p.clone() for p in pred]
    bad[0][:, 0] = 1e6
    valid_masked = [valid[0].clone(), valid[1]]
    valid_masked[0][:, 0] = False
    ref, _ = pointmap_regression_loss(pred, [torch.ones(pred[0].shape[:3]) * 1.5] * 2, gt, valid_masked)
    got, _ = pointmap_regression_loss(bad, [torch.ones(pred[0].shape[:3]) * 1.5] * 2, gt, valid_masked)
    assert torch.isfinite(got) and abs(got.item() - ref.item()) < 0.05 * abs(ref.item()) + 1e-3
    # With zero error the loss is -alpha * log(conf).
    conf = [torch.full(gt[0].shape[:3], 3.0)] * 2
    loss, _ = pointmap_regression_loss(gt, conf, gt, valid, alpha=0.2)
    assert abs(loss.item() - (-0.2 * torch.log(torch.tensor(3.0)).item())) < 1e-5


def test_infonce_prefers_matching_descriptors():
    n, d = 32, 16
    desc = torch.nn.functional.normalize(torch.randn(1, 4, 8, d), dim=-1)
    matches = [torch.stack([torch.arange(n), torch.arange(n)], 1)]
    good = matching_infonce_loss(desc, desc.clone(), matches, temperature=0.05)
    shuffled = desc.reshape(1, n, d)[:, torch.randperm(n)].reshape(1, 4, 8, d)
    bad = matching_infonce_loss(desc, shuffled, matches, temperature=0.05)
    assert good.item() < 0.5 < bad.item()
    assert matching_infonce_loss(desc, desc, [torch.zeros(0, 2, dtype=torch.long)]).item() == 0.0


def _two_people(h=8, w=10):
    ids1 = torch.zeros(1, h, w, dtype=torch.long)
    ids2 = torch.zeros(1, h, w, dtype=torch.long)
    ids1[0, 1:4, 1:4] = 1
    ids1[0, 5:8, 5:9] = 2
    ids2[0, 0:3, 6:9] = 1
    ids2[0, 4:7, 0:4] = 2
    return ids1, ids2


def _logits_for(ids1, ids2, query_of_person_v1, query_of_person_v2, q=4):
    m1 = torch.full((1, q) + ids1.shape[1:], -10.0)
    m2 = torch.full((1, q) + ids2.shape[1:], -10.0)
    cls = torch.tensor([[-5.0, 5.0]]).repeat(1, q, 1)  # no-object by default
    for pid, qi in query_of_person_v1.items():
        m1[0, qi][ids1[0] == pid] = 10.0
        cls[0, qi] = torch.tensor([5.0, -5.0])
    for pid, qi in query_of_person_v2.items():
        m2[0, qi][ids2[0] == pid] = 10.0
        cls[0, qi] = torch.tensor([5.0, -5.0])
    return cls, m1, m2


def test_instance_loss_rewards_cross_view_consistent_queries():
    ids1, ids2 = _two_people()
    consistent = _logits_for(ids1, ids2, {1: 2, 2: 0}, {1: 2, 2: 0})
    loss_ok, assign = two_view_instance_loss(*consistent, ids1, ids2)
    # Permuting which query holds which person changes nothing (set loss)...
    permuted = _logits_for(ids1, ids2, {1: 3, 2: 1}, {1: 3, 2: 1})
    loss_perm, _ = two_view_instance_loss(*permuted, ids1, ids2)
    assert abs(loss_ok.item() - loss_perm.item()) < 1e-4
    # ...but a person held by different queries in the two views is penalised.
    swapped = _logits_for(ids1, ids2, {1: 2, 2: 0}, {1: 0, 2: 2})
    loss_swap, _ = two_view_instance_loss(*swapped, ids1, ids2)
    assert loss_ok.item() < 0.2 and loss_swap.item() > 5 * loss_ok.item() + 1.0
    qi, pid = assign[0]
    assert dict(zip(pid.tolist(), qi.tolist())) == {1: 2, 2: 0}


def test_instance_loss_without_people_only_classifies():
    ids = torch.zeros(1, 4, 4, dtype=torch.long)
    cls = torch.zeros(1, 3, 2, requires_grad=True)
    loss, _ = two_view_instance_loss(cls, torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), ids, ids)
    loss.backward()
    assert cls.grad is not None and cls.grad[..., 1].lt(0).all()  # pushes towards no-object


def test_densepose_and_body_mask_losses():
    gt = torch.rand(1, 4, 4, 3)
    body = torch.zeros(1, 4, 4, dtype=torch.bool)
    body[0, :2] = True
    pred = gt.clone()
    pred[0, 2:] += 5.0  # errors off the body are ignored
    assert densepose_l2_loss(pred, gt, body).item() < 1e-9
    pred[0, 0, 0] += torch.tensor([0.1, 0.0, 0.0])
    assert abs(densepose_l2_loss(pred, gt, body).item() - 0.01 / 8) < 1e-6
    logits = torch.where(body, 8.0, -8.0)
    assert body_mask_loss(logits, body).item() < 1e-3 < body_mask_loss(-logits, body).item()


def test_body_mask_dice_weights_the_rare_body_pixels():
    # 4 body pixels of 400: predicting "no body" everywhere is cheap under BCE alone, but the
    # dice term charges it about its full weight.
    body = torch.zeros(1, 20, 20, dtype=torch.bool)
    body[0, :2, :2] = True
    none = torch.full((1, 20, 20), -6.0)
    perfect = torch.where(body, 12.0, -12.0)
    bce_only = body_mask_loss(none, body).item()
    with_dice = body_mask_loss(none, body, dice_weight=1.0).item()
    assert bce_only < 0.1 and with_dice - bce_only > 0.7
    assert body_mask_loss(perfect, body, dice_weight=1.0).item() < 0.05
