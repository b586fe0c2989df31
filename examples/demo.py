"""ContIG on the built-in synthetic biobank, end to end, as one HTML report.

The same chain as ``sklearn-contig run`` (:func:`sklearn_contig.cli.run_config`),
at demo size:

1. write a synthetic biobank as files (PNG images, PLINK genotypes, PGS and
   burden tables, labels, optic-disc masks) with planted ground truth;
2. pretrain ContIG (resnet18) on 70 % of the individuals, against the same network
   untrained on the 30 % held out: retrieval and linear probes of the planted traits;
3. fine-tune a grade classifier and a disc segmenter on a few labelled people,
   against the same networks trained from scratch;
4. explain which genetic features the model links to the images (planted features
   marked) with image attribution maps;
5. run a GWAS (plink2 / plink1.9) on the embeddings of the held-out individuals
   (planted loci marked).

Writes ``demo_output/report.html`` (one self-contained page) and each stage's files.
``make demo`` or ``python examples/demo.py [--n 500] [--epochs 6] [--out demo_output] [--threads 1]``;
about two minutes on 2 CPU cores.
"""

# %%
from __future__ import annotations

import argparse
import logging
import os
import shutil
import time

from sklearn_contig.cli import run_config


def demo_config(n=500, size=32, epochs=6, labelled=60, seed=0, out="demo_output") -> dict:
    """The demo's configuration, in the layout of a ``run`` TOML file."""
    return {
        "output": out,
        "title": "sklearn-contig demo: ContIG on the synthetic biobank",
        "random_state": seed,
        "synthetic": {"path": f"{out}/cohort", "n_individuals": n, "image_size": size,
                      "n_snps": 400, "n_pgs": 40, "n_genes": 40, "heritability": 0.8,
                      "genetic_shares": {"pgs": 0.6, "snp": 0.4}, "simulator": "independent"},
        "cohort": {"image_size": size},
        "pretrain": {"test_size": 0.3, "image_encoder": "resnet18", "batch_size": 64,
                     "max_epochs": epochs, "hidden_dim": 256, "projection_dim": 64, "lr": 3e-4,
                     "weight_decay": 1e-4, "augment": {"brightness": 0.1}, "patience": 3,
                     "device": "cpu"},
        "embed": {"split": "held_out"},
        "finetune": {
            "grade": {"target": "grade", "task": "ordinal", "n_labelled": labelled,
                      "max_epochs": 6, "device": "cpu"},
            "disc": {"task": "segmentation", "n_labelled": labelled, "max_epochs": 4,
                     "device": "cpu"},
        },
        "explain": {"n_explain": 30, "n_steps": 16, "attribute_image": True},
        "gwas": {"n_pcs": 3, "n_components": 5, "threads": 1},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="individuals")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--epochs", type=int, default=6, help="pretraining epochs")
    parser.add_argument("--labelled", type=int, default=60, help="labelled individuals")
    parser.add_argument("--out", default="demo_output")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (one: spinning OpenMP threads on a busy machine cost more "
                             "than a second thread gains at this size)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if shutil.which("plink2") is None or shutil.which("plink1.9") is None:
        raise SystemExit("the demo's GWAS needs plink2 and plink1.9 (make plink installs them)")
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = run_config(demo_config(args.n, args.size, args.epochs, args.labelled, args.seed,
                                    args.out))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    load = os.getloadavg()[0]
    print(f"\nwrote {report}: {wall:.0f} s wall, {cpu:.0f} s CPU in this process "
          f"(load average {load:.1f} on {os.cpu_count()} cores)")
    return report


if __name__ == "__main__":
    main()
