"""The latent-tree prior of LTVAE (Li et al., ICLR 2019): the latent dimensions are split into facets; facet b
has a discrete variable Y_b with K_b states and a diagonal Gaussian p(z_b | Y_b) over its own dimensions; the
Y's form a tree, here a chain Y_0 — Y_1 — … (with ``linked=False`` a forest of independent facets).

    p(z) = Σ_y p(y_0) Π_{b>0} p(y_b | y_{b-1}) Π_b N(z_b; m_{b,y_b}, diag s²_{b,y_b})

is computed exactly by message passing (log-sum-exp, vectorised over the batch), and so are the posteriors
p(Y_b | z) of every facet (forward-backward): each facet is one partition of the data.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch
from torch import nn

from ..nn import LOG_2PI


def split_dimensions(latent_dim: int, n_facets: int) -> List[np.ndarray]:
    """Contiguous, nearly equal groups of latent dimensions (the first facets get one more when uneven)."""
    return [np.asarray(part, dtype=np.int64) for part in np.array_split(np.arange(latent_dim), n_facets)]


def independent_facets(mu: np.ndarray, n_facets: int, seed: int):
    """A structure for the latent tree from the pretrained latent means ``mu`` (N, M): an unmixing matrix W
    (FastICA: the directions whose projections are most independent) and groups of the unmixed dimensions,
    dependent ones together (average-linkage clustering of |corr(s_i², s_j²)|, which is large for two
    projections of the same clustered factor and near zero for independent ones). Returns (W, mean, groups)
    with s = (mu − mean) Wᵀ."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.decomposition import FastICA

    ica = FastICA(n_components=mu.shape[1], whiten="unit-variance", random_state=seed, max_iter=1000, tol=1e-3)
    sources = ica.fit_transform(mu)
    if n_facets == 1:
        return ica.components_, ica.mean_, [np.arange(mu.shape[1])]
    energy = sources ** 2
    dependence = np.abs(np.nan_to_num(np.corrcoef(energy, rowvar=False)))
    distance = 1.0 - dependence[np.triu_indices(mu.shape[1], 1)]
    groups = fcluster(linkage(distance, "average"), n_facets, criterion="maxclust") - 1
    facets = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    while len(facets) < n_facets:  # fcluster can return fewer: split the largest group
        facets.sort(key=len)
        largest = facets.pop()
        facets += [largest[:len(largest) // 2], largest[len(largest) // 2:]]
    facets.sort(key=lambda f: f[0])
    return ica.components_, ica.mean_, facets


class LatentTreePrior(nn.Module):
    """A chain-structured latent tree over facets of the latent dimensions."""

    def __init__(self, dims: Sequence[np.ndarray], cardinalities: Sequence[int], linked: bool = True):
        super().__init__()
        self.linked = linked
        self.cardinalities = [int(k) for k in cardinalities]
        for b, d in enumerate(dims):
            self.register_buffer(f"dims_{b}", torch.as_tensor(np.asarray(d), dtype=torch.long))
        self.means = nn.ParameterList([nn.Parameter(torch.zeros(k, len(d))) for k, d in zip(cardinalities, dims)])
        self.log_vars = nn.ParameterList([nn.Parameter(torch.zeros(k, len(d))) for k, d in zip(cardinalities, dims)])
        # Row i of link b: logits of p(y_b | y_{b-1} = i); one row (no parent) for the root and for a forest.
        rows = [1] + [(self.cardinalities[b - 1] if linked else 1) for b in range(1, len(dims))]
        self.link_logits = nn.ParameterList([nn.Parameter(torch.zeros(r, k)) for r, k in zip(rows, cardinalities)])

    @property
    def n_facets(self) -> int:
        return len(self.cardinalities)

    def dims(self, b: int) -> torch.Tensor:
        return getattr(self, f"dims_{b}")

    def log_links(self, b: int) -> torch.Tensor:
        """log p(y_b | y_{b-1}) as (rows, K_b); rows = 1 when y_b has no parent."""
        return torch.log_softmax(self.link_logits[b], dim=1)

    def facet_log_densities(self, z: torch.Tensor) -> List[torch.Tensor]:
        """log N(z_b; m_bk, s²_bk) for every facet: a list of (N, K_b)."""
        out = []
        for b in range(self.n_facets):
            zb = z[:, self.dims(b)]
            diff = zb.unsqueeze(1) - self.means[b].unsqueeze(0)
            out.append(-0.5 * (LOG_2PI + self.log_vars[b] + diff.pow(2) / self.log_vars[b].exp()).sum(-1))
        return out

    def _messages(self, z: torch.Tensor):
        dens = self.facet_log_densities(z)
        alphas = [self.log_links(0)[0] + dens[0]]
        for b in range(1, self.n_facets):
            links = self.log_links(b)
            if links.shape[0] == 1:  # independent of its neighbour
                incoming = torch.logsumexp(alphas[-1], 1, keepdim=True) + links[0]
            else:
                incoming = torch.logsumexp(alphas[-1].unsqueeze(2) + links.unsqueeze(0), 1)
            alphas.append(dens[b] + incoming)
        return dens, alphas

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per sample (N,)."""
        return torch.logsumexp(self._messages(z)[1][-1], 1)

    def posteriors(self, z: torch.Tensor) -> List[torch.Tensor]:
        """p(Y_b | z) for every facet: a list of (N, K_b), each row summing to one."""
        dens, alphas = self._messages(z)
        betas = [torch.zeros_like(alphas[-1])]
        for b in range(self.n_facets - 1, 0, -1):
            links = self.log_links(b)
            after = dens[b] + betas[0]  # (N, K_b)
            if links.shape[0] == 1:
                message = torch.logsumexp(links[0] + after, 1, keepdim=True).expand(-1, self.cardinalities[b - 1])
            else:
                message = torch.logsumexp(links.unsqueeze(0) + after.unsqueeze(1), 2)
            betas.insert(0, message)
        return [torch.softmax(a + beta, 1) for a, beta in zip(alphas, betas)]

    @torch.no_grad()
    def set_facet(self, b: int, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> None:
        self.means[b].copy_(torch.as_tensor(means, dtype=torch.float32))
        self.log_vars[b].copy_(torch.as_tensor(np.log(np.clip(variances, 1e-6, None)), dtype=torch.float32))
        if b == 0 or not self.linked:
            w = np.clip(np.asarray(weights, dtype=np.float64), 1e-10, None)
            self.link_logits[b].copy_(torch.as_tensor(np.log(w / w.sum())[None, :], dtype=torch.float32))

    @torch.no_grad()
    def set_link(self, b: int, parent_labels: np.ndarray, child_labels: np.ndarray) -> None:
        """p(y_b | y_{b-1}) from the joint counts of two facets' starting labels (add-one smoothing)."""
        counts = np.ones((self.cardinalities[b - 1], self.cardinalities[b]))
        np.add.at(counts, (parent_labels, child_labels), 1.0)
        self.link_logits[b].copy_(torch.as_tensor(np.log(counts / counts.sum(1, keepdims=True)),
                                                  dtype=torch.float32))
