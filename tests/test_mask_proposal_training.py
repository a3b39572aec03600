"""Sec. 6 training runs the MLPs only at the sampled windows (MaskMLP.at): the same numbers as the dense MLP there."""
from __future__ import annotations

import pytest
import torch

from fpn.mask_proposals import MaskMLP, build_mask_proposer


@pytest.mark.parametrize("window", [5, 7])
def test_the_mlp_at_some_positions_equals_the_dense_mlp_there(window):
    """Corners and borders included: the window conv's zero padding is reproduced."""
    torch.manual_seed(0)
    mlp = MaskMLP(d=6, window=window, hidden=9, mask_size=4)
    for conv in (mlp.window, mlp.objectness):
        torch.nn.init.normal_(conv.weight, std=0.3)
        torch.nn.init.normal_(conv.bias, std=0.3)
    x = torch.randn(2, 6, 7, 11)
    batch = torch.tensor([0, 1, 1, 0, 1, 0])
    ys = torch.tensor([0, 6, 3, 6, 0, 2])
    xs = torch.tensor([0, 10, 5, 0, 10, 1])
    hidden, logits = mlp(x)
    h_at, logits_at = mlp.at(x, batch, ys, xs)
    torch.testing.assert_close(h_at, hidden[batch, :, ys, xs], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_at, logits[batch, ys, xs], atol=1e-5, rtol=1e-5)
    assert (logits_at.abs() > 1e-3).all()  # not a trivially zero comparison
    torch.testing.assert_close(mlp.mask_logits(h_at), mlp.masks_at(hidden, batch, ys, xs), atol=1e-5, rtol=1e-5)


def _squares(n, size=160):
    images, targets = [], []
    for i in range(n):
        img = torch.full((3, size, size), 0.4)
        masks, boxes = [], []
        for cx, cy, side in ((40 + 10 * i, 50, 40), (110, 100 - 5 * i, 70), (30, 130, 20)):
            m = torch.zeros(size, size, dtype=torch.uint8)
            m[cy - side // 2:cy + side // 2, cx - side // 2:cx + side // 2] = 1
            img[:, m.bool()] = torch.tensor([0.9, 0.2, 0.1])[:, None]
            masks.append(m)
            boxes.append([cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2])
        images.append(img)
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32), "masks": torch.stack(masks)})
    return images, targets


def test_training_loss_and_gradients_equal_the_dense_computation(monkeypatch):
    """The loss and every gradient match a run where `at` reads the dense MLP's outputs (the pre-optimisation code)."""
    torch.set_num_threads(1)
    images, targets = _squares(2)
    torch.manual_seed(0)
    model = build_mask_proposer("resnet18", hidden=16, min_size=160, max_size=160).train()
    for mlp in model.heads.values():
        torch.nn.init.normal_(mlp.objectness.weight, std=0.2)

    def run():
        model.zero_grad()
        torch.manual_seed(3)  # the window sampler's draws
        losses = model(images, targets)
        sum(losses.values()).backward()
        return ({k: v.detach() for k, v in losses.items()},
                {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})

    sampled_losses, sampled_grads = run()

    def dense_at(self, x, batch, ys, xs):
        hidden, logits = self(x)
        return hidden[batch, :, ys, xs], logits[batch, ys, xs]

    monkeypatch.setattr(MaskMLP, "at", dense_at)
    dense_losses, dense_grads = run()
    assert sampled_losses["loss_mask"] > 0 and sampled_losses["loss_objectness"] > 0
    for k in dense_losses:
        torch.testing.assert_close(sampled_losses[k], dense_losses[k], atol=1e-5, rtol=1e-5)
    assert set(sampled_grads) == set(dense_grads)
    for k in dense_grads:
        torch.testing.assert_close(sampled_grads[k], dense_grads[k], atol=1e-5, rtol=1e-3, msg=k)
