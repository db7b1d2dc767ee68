"""DEPICT's autoencoder pretraining on MNIST's 10,000 test images: the authors' loss against ours, with k-means
accuracy on the code as it trains (what DEPICT starts from).

The authors' loss, as read from their code (herandy/DEPICT, ``build_depict``): inputs scaled to [-1, 1], a tanh
output and squared errors; each decoder layer against the clean encoder's mirrored layer with weight 0.1, the error
neither normalised nor cut from the clean pathway's gradient; dropout 0.1 on the input and the first convolution's
output only. Flags switch to ours one piece at a time: ``--bce`` ([0, 1] inputs, Bernoulli cross-entropy),
``--relative`` (each hidden error over its layer's mean square), ``--detach`` (no gradient through the clean
targets), ``--dropout-all`` (dropout after both convolutions too), ``--layout small`` (our 32/64 network).
The loss is written out here rather than taken from ``DEPICT`` so that the authors' variant can be run.

    python -m benchmarks.depict_pretrain --epochs 100 --tag authors                 # Adam 1e-4, batch 100
    python -m benchmarks.depict_pretrain --epochs 50 --bce --lr 0.001 --batch-size 256 --tag authors-bce-fast
    python -m benchmarks.depict_pretrain --epochs 50 --layout small --bce --relative --detach --dropout-all \\
        --lr 0.001 --batch-size 256 --tag ours-small-fast
"""
from __future__ import annotations

import argparse
import time

import torch
from sklearn.cluster import KMeans
from torch.nn import functional as F

from deepclust_core.datasets import load_dataset
from deepclust_core.methods.depict import conv_autoencoder
from deepclust_core.metrics import cluster_acc

from .common import record
from .depict_authors import TEST, authors_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--layout", choices=("paper", "small"), default="paper")
    for flag in ("--bce", "--relative", "--detach", "--dropout-all"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("--every", type=int, default=10, help="k-means on the code every this many epochs.")
    parser.add_argument("--resume", help="A state saved by --save; epochs are counted on from --first-epoch.")
    parser.add_argument("--first-epoch", type=int, default=0)
    parser.add_argument("--save", help="Save the autoencoder's state here at the end.")
    parser.add_argument("--tag", default=None)
    args = parser.parse_args()
    started = time.time()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_dataset("mnist")
    x01, y = torch.as_tensor(data.x[TEST]), data.y[TEST]
    x = x01 if args.bce else 2 * x01 - 1
    model = conv_autoencoder(28, 1, (32, 64), 10, "small") if args.layout == "small" else authors_network()
    if args.resume:
        model.load_state_dict(torch.load(args.resume))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    drops = [0.1, 0.1, 0.1] if args.dropout_all else [0.1, 0.1, 0.0]

    def layers(batch, noisy):
        h, out = (F.dropout(batch, drops[0]) if noisy else batch), []
        for i, block in enumerate(model.encoder_blocks):
            h = block(h)
            if noisy and i < 2:
                h = F.dropout(h, drops[i + 1])
            out.append(h)
        return out

    def loss_of(batch):
        clean = layers(batch, False)
        if args.detach:
            clean = [c.detach() for c in clean]
        decoded = model.decode_layers(layers(batch, True)[-1])
        if args.bce:
            loss = F.binary_cross_entropy_with_logits(decoded[-1], batch)
        else:
            loss = (torch.tanh(decoded[-1]) - batch).pow(2).mean()
        for mirror, reference in zip(decoded[:-1], reversed(clean[:-1])):
            error = (mirror - reference).pow(2).mean()
            loss = loss + 0.1 * (error / reference.pow(2).mean().clamp_min(1e-8) if args.relative else error)
        return loss

    generator = torch.Generator().manual_seed(args.first_epoch)
    rows = []
    for epoch in range(args.first_epoch + 1, args.first_epoch + args.epochs + 1):
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for start in range(0, len(x), args.batch_size):
            batch = x[order[start:start + args.batch_size]]
            loss = loss_of(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        if epoch % args.every == 0 or epoch in (1, 5):
            with torch.no_grad():
                code = model.encode(x)[0].numpy()
            acc = cluster_acc(y, KMeans(10, n_init=20, random_state=0).fit(code).labels_)
            rows.append({"epoch": epoch, "loss": total / len(x), "kmeans_acc": acc,
                         "seconds": round(time.time() - started)})
            print(rows[-1], flush=True)
    if args.save:
        torch.save(model.state_dict(), args.save)
    record("depict_pretrain", {"tag": args.tag, "settings": vars(args), "curve": rows,
                               "kmeans_acc_end": rows[-1]["kmeans_acc"] if rows else None}, started)


if __name__ == "__main__":
    main()
