"""Images per second of ContIG pretraining on 1 vs 2 CPU processes (torchrun, gloo).

Weak scaling: every process trains on ``--batch`` images per step with one
torch thread, so 2 processes step through a global batch twice as large; the
throughput is the training images of the last epoch over that epoch's duration
(the first epoch is warm-up). Parallel efficiency = throughput(2) / (2 x
throughput(1)). Compute-bound configuration: resnet18 on 32 px images, all
images decoded in memory, no validation split.

    python benchmarks/scaling.py [--samples 256] [--size 32] [--batch 16] [--epochs 2]

Needs as many free cores as processes; on a shared machine check ``uptime``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args) -> None:
    import accelerate
    import numpy as np
    import torch

    from sklearn_contig.data import from_arrays
    from sklearn_contig.pretraining import ContIGPretrainer

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    pgs = rng.normal(size=(args.samples, 16)).astype(np.float32)
    img = rng.integers(0, 256, size=(args.samples, 3, args.size, args.size), dtype=np.uint8)
    X = from_arrays(img, pgs=pgs)
    accelerator = accelerate.Accelerator(cpu=True)
    model = ContIGPretrainer("resnet18", batch_size=args.batch, max_epochs=args.epochs, validation_fraction=0,
                             hidden_dim=256, projection_dim=64, augment=False, precision="32", verbose=0,
                             random_state=0, accelerator=accelerator, sync_batchnorm=True)
    model.fit(X)
    last = model.history_[-1]
    images = last["train_batch_count"] * args.batch * accelerator.num_processes
    if accelerator.is_main_process:
        print(json.dumps({"processes": accelerator.num_processes, "images": images, "seconds": last["dur"],
                          "images_per_s": images / last["dur"]}))


def launch(nproc, args) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           str(29600 + nproc), __file__, "--worker", "--samples", str(args.samples), "--size", str(args.size),
           "--batch", str(args.batch), "--epochs", str(args.epochs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=3600).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16, help="images per process per step")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    print(f"load average before: {os.getloadavg()}  ({time.strftime('%Y-%m-%d %H:%M')})")
    one, two = launch(1, args), launch(2, args)
    print(f"load average after:  {os.getloadavg()}")
    for r in (one, two):
        print(f"{r['processes']} process(es): {r['images']} images in {r['seconds']:.1f} s = "
              f"{r['images_per_s']:.1f} images/s")
    print(f"speed-up {two['images_per_s'] / one['images_per_s']:.2f}x, parallel efficiency "
          f"{two['images_per_s'] / (2 * one['images_per_s']):.0%}")


if __name__ == "__main__":
    main()
