"""Siamese embedding for the DGG graph (the paper's MNIST recipe).

A copy of the pretrained encoder (mean head) is trained on pairs: positives are each sample's
``n_positive`` nearest neighbours in input space, negatives are random partners; contrastive hinge
loss  y·d² + (1 − y)·max(0, margin − d)².  Neighbours are then looked up in the learned space.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .graph import knn


class _SiameseNet(nn.Module):
    def __init__(self, autoencoder):
        super().__init__()
        self.body = copy.deepcopy(autoencoder.encoder)
        self.head = copy.deepcopy(autoencoder.mu_head)

    def forward(self, x):
        return self.head(self.body(x))


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean of same·d² + (1 − same)·max(0, margin − d)² over pairs."""
    distance = (a - b).pow(2).sum(1).add(1e-12).sqrt()
    return (same * distance.pow(2) + (1 - same) * (margin - distance).clamp_min(0).pow(2)).mean()


def siamese_embedding(autoencoder, x: torch.Tensor, *, epochs: int = 20, n_positive: int = 2,
                      margin: float = 1.0, batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> torch.Tensor:
    """Train a Siamese copy of the encoder and return the embedding of x (no gradient)."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    _, positives = knn(x, n_positive)
    net = _SiameseNet(autoencoder).to(x.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    n = x.shape[0]
    with torch.no_grad():  # scale the margin to the initial embedding's spread
        sample = net(x[torch.randperm(n, generator=generator, device=x.device)[:2048]])
        margin = margin * float(torch.cdist(sample, sample).median())
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=x.device)
        for start in range(0, n, batch_size):
            anchor = order[start:start + batch_size]
            pick = torch.randint(0, n_positive, (anchor.shape[0],), generator=generator, device=x.device)
            positive = positives[anchor, pick]
            negative = torch.randint(0, n, (anchor.shape[0],), generator=generator, device=x.device)
            partners = torch.cat([positive, negative])
            same = torch.cat([torch.ones(anchor.shape[0], device=x.device),
                              torch.zeros(anchor.shape[0], device=x.device)])
            embedded = net(torch.cat([x[anchor], x[partners]]))
            left, right = embedded[:anchor.shape[0]], embedded[anchor.shape[0]:]
            loss = contrastive_loss(torch.cat([left, left]), right, same, margin)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i:i + 8192]) for i in range(0, n, 8192)])
