"""
Training across processes with torchrun and accelerate
======================================================

Every estimator of the package trains across the processes started by ``torchrun``
(or ``accelerate launch``) when it is given an ``accelerate.Accelerator``. Each
process runs the same script and reads its own share of every batch; the contrastive
loss takes its negatives from the global batch, ``sync_batchnorm=True`` normalises
with the global batch's statistics, the validation loss is averaged over the
processes before early stopping, and after ``fit`` every process holds the same
weights.

This example trains a :class:`~sklearn_contig.ContIGPretrainer` in 2 CPU processes
that talk through gloo. Start it with::

    torchrun --nproc_per_node 2 examples/05_multi_process.py

or run it as a plain script (``python examples/05_multi_process.py``): it then
launches itself through ``torchrun`` (``python -m torch.distributed.run
--standalone``) with ``--nproc`` processes (default 2). On GPUs and several
machines, use ``examples/train_multi_gpu.py`` and the commands in the README
("Training on several GPUs or machines").

The figure goes to ``$SKLEARN_CONTIG_EXAMPLES_OUT/05_multi_process`` (default:
``examples_output/`` in the current directory).
"""

# %%
# Launched by torchrun, or by hand?
# ---------------------------------
# ``torchrun`` and ``accelerate launch`` set ``LOCAL_RANK`` in every process they
# start. Without it this script starts ``torchrun`` on itself, so the heavy imports
# below happen only in the training processes.
import argparse
import os
import subprocess
import sys
from pathlib import Path

OUT = Path(os.environ.get("SKLEARN_CONTIG_EXAMPLES_OUT", "examples_output")) / "05_multi_process"


def launch(nproc, argv):
    """Run this script in ``nproc`` processes under torchrun; its exit status."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", str(nproc), __file__, *argv]
    print("launching:", " ".join(cmd[1:]), flush=True)
    # one thread per process unless told otherwise: the processes share the cores
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.run(cmd, env=env).returncode


# %%
# The training, run in every process
# ----------------------------------
# Every process builds the same cohort (same seed); with real data every process
# opens the same Zarr store or image folder and reads only the images of its
# batches. ``batch_size`` is per process: the global batch is 2 x 32 here. The
# sizes are small (96 people, 16 px, 2 epochs); for real data raise them and use
# ``image_encoder="resnet50"``.
def train(args):
    import accelerate
    import matplotlib

    matplotlib.use("Agg")  # write PNG files, open no window
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.ticker import MaxNLocator

    from sklearn_contig import ContIGPretrainer
    from sklearn_contig.datasets import make_imaging_genetics

    accelerator = accelerate.Accelerator(cpu=True)  # CPU processes, gloo
    ds, _ = make_imaging_genetics(args.individuals, image_size=16, n_snps=100, n_pgs=20,
                                  n_genes=20, simulator="independent", random_state=0)
    model = ContIGPretrainer("resnet18", batch_size=32, max_epochs=args.epochs, hidden_dim=64,
                             projection_dim=32, lr=1e-3, weight_decay=1e-4,
                             accelerator=accelerator, sync_batchnorm=True, random_state=0,
                             verbose=0)
    model.fit(ds)

    # Every process holds the same weights: a checksum of the image encoder's
    # weights, gathered from every process.
    checksum = sum(float(p.detach().double().sum()) for p in model.get_encoder().parameters())
    sums = accelerator.gather(torch.tensor([checksum], dtype=torch.float64)).tolist()

    # ``transform``, ``predict`` and ``score`` work in every process; files are
    # written by the main process only.
    if accelerator.is_main_process:
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"trained in {accelerator.num_processes} processes "
              f"(global batch {32 * accelerator.num_processes}); stopped after epoch "
              f"{model.history_[-1]['epoch']}, best epoch {model.best_epoch_}")
        print(f"encoder weight checksums per process: {[f'{s:.6f}' for s in sums]}; "
              f"identical: {len(set(sums)) == 1}")
        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
        epochs = model.history_[:, "epoch"]
        ax.plot(epochs, model.history_[:, "train_loss"], marker="o", label="training")
        ax.plot(epochs, model.history_[:, "valid_loss"], marker="o", label="validation")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel="contrastive loss (averaged over processes)",
               title=f"ContIG in {accelerator.num_processes} processes")
        ax.legend()
        fig.savefig(OUT / "loss.png", dpi=100)
        print("figure:", OUT / "loss.png")
    accelerator.wait_for_everyone()
    accelerator.end_training()  # leave the process group cleanly


# %%
# Entry point
# -----------
def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description="ContIG pretraining in several CPU processes")
    parser.add_argument("--nproc", type=int, default=2, help="processes when launching itself")
    parser.add_argument("--individuals", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        return launch(args.nproc, argv)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
