"""The ELBO terms of docs/METHODS.md §2 against closed forms and torch.distributions."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from deepclust_core import nn as dnn
from deepclust_core.methods.dgg import mixture_weights

torch.manual_seed(0)


def _prior(k, m):
    prior = dnn.GMMPrior(k, m)
    with torch.no_grad():
        prior.means.normal_()
        prior.log_vars.uniform_(-1, 1)
        prior.pi_logits.normal_()
    return prior


def test_single_component_kl_matches_closed_form():
    """K = 1, gamma = 1: kl_z - entropy is KL(N(mu, σ²) || N(m, s²)), kl_c is 0."""
    prior = _prior(1, 3)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3) * 0.5
    gamma = torch.ones(5, 1)
    terms = dnn.elbo_terms(torch.zeros(5, 2), torch.zeros(5, 2), mu, logvar, gamma, prior.log_pi, prior,
                           "gaussian", 1.0)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()),
                             Normal(prior.means[0], (0.5 * prior.log_vars[0]).exp())).sum(1)
    torch.testing.assert_close(terms["kl_z"] - terms["entropy"], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms["kl_c"], torch.zeros(5), atol=1e-6, rtol=0)


def test_gaussian_reconstruction_is_negative_log_likelihood():
    x, x_hat = torch.randn(4, 6), torch.randn(4, 6)
    lam = 0.3
    expected = -Normal(x_hat, math.sqrt(lam)).log_prob(x).sum(1)
    torch.testing.assert_close(dnn.reconstruction_nll(x, x_hat, "gaussian", lam), expected)


def test_bernoulli_reconstruction_is_negative_log_likelihood():
    x = torch.rand(4, 6)
    logits = torch.randn(4, 6)
    expected = -(x * torch.log(torch.sigmoid(logits)) + (1 - x) * torch.log(1 - torch.sigmoid(logits))).sum(1)
    torch.testing.assert_close(dnn.reconstruction_nll(x, logits, "bernoulli", 1.0), expected)
    binary = (x > 0.5).float()
    torch.testing.assert_close(dnn.reconstruction_nll(binary, logits, "bernoulli", 1.0),
                               -Bernoulli(logits=logits).log_prob(binary).sum(1))


def test_responsibilities_are_bayes_rule():
    prior = _prior(3, 2)
    z = torch.randn(7, 2)
    joint = torch.stack([prior.log_pi[k].exp() * Normal(prior.means[k], (0.5 * prior.log_vars[k]).exp())
                         .log_prob(z).sum(1).exp() for k in range(3)], dim=1)
    torch.testing.assert_close(prior.responsibilities(z), joint / joint.sum(1, keepdim=True), rtol=1e-5,
                               atol=1e-6)


def test_negative_elbo_is_sum_of_terms_and_matches_monte_carlo_bound():
    """For K components, the analytic terms equal E_q[log q(z,c|x) - log p(z,c)] (checked by MC)."""
    prior = _prior(3, 2)
    mu, logvar = torch.randn(1, 2), torch.full((1, 2), -0.5)
    gamma = torch.softmax(torch.randn(1, 3), 1)
    terms = dnn.elbo_terms(torch.zeros(1, 1), torch.zeros(1, 1), mu, logvar, gamma, prior.log_pi, prior,
                           "gaussian", 1.0)
    analytic = (terms["kl_z"] + terms["kl_c"] - terms["entropy"]).item()
    z = mu + (0.5 * logvar).exp() * torch.randn(400000, 2)
    log_q_z = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1)
    log_p_z_given_c = prior.log_component_density(z)  # (S, K)
    mc = (gamma * (log_q_z[:, None] + torch.log(gamma) - prior.log_pi - log_p_z_given_c)).sum(1).mean().item()
    assert analytic == pytest.approx(mc, abs=0.02)
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["kl_z"] + terms["kl_c"] - terms["entropy"])


def test_mixture_weights_sum_to_one_and_maximise_objective():
    rng = np.random.default_rng(0)
    gamma_i = torch.softmax(torch.randn(6, 4), 1)
    gamma_j = torch.softmax(torch.randn(6, 5, 4), 2)
    w = torch.softmax(torch.randn(6, 5), 1)
    pi = mixture_weights(gamma_i, gamma_j, w)
    torch.testing.assert_close(pi.sum(1), torch.ones(6))

    def objective(p):  # Σ_j w_ij Σ_k (γ_ik + γ_jk) log p_k, per row
        return (w.unsqueeze(-1) * (gamma_i.unsqueeze(1) + gamma_j) * torch.log(p).unsqueeze(1)).sum((1, 2))

    best = objective(pi)
    for _ in range(200):
        other = torch.as_tensor(rng.dirichlet(np.ones(4), size=6), dtype=torch.float32)
        assert torch.all(objective(other) <= best + 1e-5)
        mixed = 0.9 * pi + 0.1 * other  # nearby points too
        assert torch.all(objective(mixed) <= best + 1e-6)
