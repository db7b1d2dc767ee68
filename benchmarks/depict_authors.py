"""DEPICT's clustering phase from the authors' own pretrained MNIST-test network: separates what our pretraining
gives from what our clustering phase does.

The authors' repository (herandy/DEPICT) ships the autoencoder they pretrained on MNIST's 10,000 test images
(``results/DEPICT/params/params_MNIST-test_values_best.pickle``, Lasagne parameter values) and the AC-PIC labels
they started from (``predMNIST-test.pickle``). This loads the network into our ``conv_layout="paper"`` autoencoder
(same layers; Lasagne's convolutions flip their filters, and the [-1, 1] input and tanh output are folded into the
first and last layers so that it takes our [0, 1] pixels and gives Bernoulli logits), then runs our DEPICT from
k-means on its code (``--start kmeans``) or from their AC-PIC labels (``--start acpic``).

    python -m benchmarks.depict_authors --params PARAMS.pickle --start kmeans --epochs 50
    python -m benchmarks.depict_authors --params PARAMS.pickle --start acpic --labels predMNIST-test.pickle

``--state`` instead of ``--params`` starts from a network pretrained by ``benchmarks/depict_pretrain.py --save``
(its [-1, 1] scale folded in the same way unless it was trained with ``--bce``).
"""
from __future__ import annotations

import argparse
import pickle
import time

import numpy as np
import torch
from torch import nn

from deepclust_core.datasets import load_dataset
from deepclust_core.methods.depict import DEPICT, conv_autoencoder
from deepclust_core.metrics import evaluate

from .common import record

TEST = slice(60000, 70000)  # MNIST's test images: the rows after the 60,000 training images


def authors_network() -> nn.Module:
    """The authors' MNIST autoencoder, untrained: the paper layout with their 50/50 channels and a 10-D code."""
    return conv_autoencoder(28, 1, (50, 50), 10, "paper")


def authors_autoencoder(values) -> nn.Module:
    """Our paper-layout autoencoder holding the authors' Lasagne parameters (12 arrays, encoder then decoder)."""
    p = [torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in values]
    model = authors_network()
    enc, dec = model.encoder_blocks, model.decoder_blocks
    with torch.no_grad():
        first = p[0].flip(2, 3)  # Lasagne's Conv2DLayer convolves (flipped filters); torch correlates
        enc[0][1].weight.copy_(2 * first)  # their input is 2x − 1 for our x in [0, 1]; no padding, so exact
        enc[0][1].bias.copy_(p[1] - first.sum((1, 2, 3)))
        enc[1][0].weight.copy_(p[2].flip(2, 3))
        enc[1][0].bias.copy_(p[3])
        enc[2][1].weight.copy_(p[4].T)
        enc[2][1].bias.copy_(p[5])
        dec[0][0].weight.copy_(p[6].T)
        dec[0][0].bias.copy_(p[7])
        dec[1][0].weight.copy_(p[8].flip(2, 3))
        dec[1][0].bias.copy_(p[9])
        # Their output tanh(a) on [-1, 1] is 2σ(2a) − 1 on [0, 1]: our Bernoulli logits are 2a.
        dec[2][0].weight.copy_(2 * p[10].flip(2, 3))
        dec[2][0].bias.copy_(2 * p[11])
    return model


def fold_unit_scale(model: nn.Module) -> nn.Module:
    """A paper-layout network trained on 2x − 1 with a tanh output, rewritten to take x and give logits (the same
    folding as for the authors' parameters: the first convolution has no padding, so it is exact)."""
    first, last = model.encoder_blocks[0][1], model.decoder_blocks[2][0]
    with torch.no_grad():
        first.bias.sub_(first.weight.sum((1, 2, 3)))
        first.weight.mul_(2)
        last.weight.mul_(2)
        last.bias.mul_(2)
    return model


def depict_from(model: nn.Module, start_labels=None):
    """A DEPICT class whose pretraining is ``model`` and, given labels, whose head starts at their centres."""

    class FromAuthors(DEPICT):
        def _pretrain(self, x_np, x, labels, callbacks):
            self.pretrain_key_, self.pretrain_cached_ = "authors", True
            return model.to(self.device_)

        def _initialize(self, x_np, x, labels):
            if start_labels is None:
                return super()._initialize(x_np, x, labels)
            code = self._encode_means(x).cpu().numpy().astype("float64")
            centres = np.stack([code[start_labels == k].mean(0) for k in range(self.n_clusters)])
            self._start_at(centres, code, start_labels, labels)

    return FromAuthors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--params", help="The authors' params_MNIST-test_values_best.pickle.")
    source.add_argument("--state", help="A network saved by benchmarks/depict_pretrain.py --save (paper layout).")
    parser.add_argument("--state-bce", action="store_true", help="--state was trained with --bce (no folding).")
    parser.add_argument("--start", choices=("kmeans", "acpic"), default="kmeans")
    parser.add_argument("--labels", help="The authors' predMNIST-test.pickle (AC-PIC labels; --start acpic).")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default=None)
    args = parser.parse_args()
    started = time.time()
    data = load_dataset("mnist")
    x, y = data.x[TEST], data.y[TEST]
    if args.params:
        with open(args.params, "rb") as handle:
            model = authors_autoencoder(pickle.load(handle, encoding="latin1"))
    else:
        model = authors_network()
        model.load_state_dict(torch.load(args.state))
        if not args.state_bce:
            model = fold_unit_scale(model)
    start_labels = None
    if args.start == "acpic":
        if not args.labels:
            parser.error("--start acpic needs --labels")
        with open(args.labels, "rb") as handle:
            start_labels = np.asarray(pickle.load(handle, encoding="latin1")).astype(int)
    estimator = depict_from(model, start_labels)(n_clusters=10, latent_dim=10, likelihood="bernoulli",
                                                 epochs=args.epochs, random_state=args.seed)
    estimator.fit(x, y)
    with torch.no_grad():
        recon = estimator.autoencoder_.decode(estimator.autoencoder_.encode(torch.as_tensor(x))[0])
    curve = [{"epoch": h["epoch"], "acc": h.get("acc"), "nmi": h.get("nmi")}
             for h in estimator.history_ if h.get("phase") == "train"]
    record("depict_authors", {"tag": args.tag, "start": args.start, "epochs": args.epochs, "seed": args.seed,
                              "start_scores": estimator.init_scores_, "end_scores": evaluate(y, estimator.labels_),
                              "end_recon_bce": float(nn.functional.binary_cross_entropy_with_logits(
                                  recon, torch.as_tensor(x))),
                              "curve": curve}, started)


if __name__ == "__main__":
    main()
