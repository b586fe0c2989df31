"""ContIG pretraining across several GPUs or machines (``torchrun`` / ``accelerate launch``).

Every process runs this same script. The ``accelerate.Accelerator`` wraps the
network in DistributedDataParallel and gives each process its share of every
batch; the contrastive loss takes its negatives from the global batch (all
processes), ``sync_batchnorm=True`` normalises with the statistics of the
global batch, the validation loss is averaged over processes before early
stopping, and checkpoints are written by rank 0 only. After ``fit`` every
process holds the same weights; only rank 0 saves the encoder.

One machine with 8 GPUs::

    torchrun --nproc_per_node 8 examples/train_multi_gpu.py --out run1

Two machines with 8 GPUs each (run on both; ``node0`` is the first machine's
host name, reachable from the second)::

    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint node0:29500 --rdzv_id contig1 examples/train_multi_gpu.py --out run1

Or ``accelerate launch --multi_gpu --num_processes 8 examples/train_multi_gpu.py``.
On CPUs (no GPU; processes talk through gloo)::

    torchrun --nproc_per_node 2 examples/train_multi_gpu.py --cpu --individuals 200 --size 16 \\
        --encoder resnet18 --batch-size 16 --epochs 2

A SLURM batch script is in the README ("Training on several GPUs or machines").
``--batch-size`` is per process: the global batch is that times the number of
processes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import accelerate

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.pretraining import ContIGPretrainer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="multi_gpu_output", help="folder of checkpoints and the encoder")
    parser.add_argument("--individuals", type=int, default=2000, help="individuals of the synthetic cohort")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--encoder", default="resnet50", choices=["resnet50", "resnet18"])
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--cpu", action="store_true", help="CPU processes (gloo) instead of GPUs (NCCL)")
    args = parser.parse_args(argv)

    accelerator = accelerate.Accelerator(cpu=args.cpu)
    out = Path(args.out)
    # every process builds the same cohort (same seed); real data: open the same
    # Zarr store in every process, each reads only the images of its batches
    X, _ = make_imaging_genetics(n_individuals=args.individuals, image_size=args.size, simulator="independent",
                                 random_state=0)
    model = ContIGPretrainer(
        args.encoder,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        accelerator=accelerator,
        sync_batchnorm=True,
        checkpoint_dir=out / "checkpoints",
        resume=True,  # a restarted job continues from the last epoch
        random_state=0,
        verbose=1,
    )
    model.fit(X)
    if accelerator.is_main_process:
        model.save_encoder(out / "encoder.safetensors")
        print(f"stopped after epoch {model.history_[-1]['epoch']}, best epoch {model.best_epoch_}; "
              f"encoder saved to {out / 'encoder.safetensors'}")
    return model


if __name__ == "__main__":
    main()
