"""Training throughput of ContIGPretrainer against a bare torchvision ResNet train step.

Both are measured in one run, on the same device, batch size, image size and
precision, alternating repeats so that a noisy machine affects both alike:

- bare: forward + backward + Adam step of the torchvision ResNet on random
  tensors already on the device (the upper bound for any training loop);
- ContIG: ``ContIGPretrainer.fit`` (skorch loop, data read from the cohort
  Dataset or decoded from image files, on-device augmentation, genetic encoders,
  heads and the loss), images/s from the per-epoch durations after the first.

Usage::

    python benchmarks/pretrain_throughput.py                 # CPU: resnet18, 128 px
    python benchmarks/pretrain_throughput.py --config gpu    # ResNet50, 448 px, bf16, JPEG files

The GPU configuration writes the synthetic biobank as JPEG files and reads them
lazily with DataLoader workers (``num_workers``), as a real cohort would be read.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from sklearn_contig.data import read_images
from sklearn_contig.datasets import make_imaging_genetics, write_image_folder
from sklearn_contig.pretraining import ContIGPretrainer
from sklearn_contig.training import resolve_device, resolve_precision

CONFIGS = {
    "cpu": dict(encoder="resnet18", image_size=128, batch_size=32, n=256, epochs=3, repeats=3,
                precision="32", files=False, num_workers=0, compile=False),
    "gpu": dict(encoder="resnet50", image_size=448, batch_size=128, n=6400, epochs=3, repeats=2,
                precision="bf16", files=True, num_workers=12, compile=True),
}


def bare_step_rate(encoder, image_size, batch_size, steps, device, precision, compile_):
    """Images/s of forward + backward + Adam on a bare torchvision ResNet."""
    import torchvision

    model = getattr(torchvision.models, encoder)(weights=None).to(device)
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    y = torch.randint(0, 1000, (batch_size,), device=device)
    if device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if compile_:
        model.compile()
    # the same optimiser settings as the pretrainers (fused Adam)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6,
                           fused=torch.device(device).type in ("cpu", "cuda"))
    dtype = resolve_precision(precision, device)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def contig_rate(ds, cfg, device):
    """Images/s of ContIGPretrainer training (epochs after the first)."""
    model = ContIGPretrainer(
        image_encoder=cfg["encoder"], batch_size=cfg["batch_size"], max_epochs=cfg["epochs"],
        validation_fraction=0.0, image_size=cfg["image_size"], precision=cfg["precision"],
        num_workers=cfg["num_workers"], compile=cfg["compile"], device=device, random_state=0, verbose=0,
    ).fit(ds)
    n_train = (model.n_train_samples_ // cfg["batch_size"]) * cfg["batch_size"]  # drop_last
    durations = [row["dur"] for row in model.history_][1:]
    return n_train / statistics.median(durations)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    cfg = CONFIGS[args.config]
    device = resolve_device(args.device)
    torch.manual_seed(0)

    ds, _ = make_imaging_genetics(n_individuals=cfg["n"], image_size=cfg["image_size"],
                                  n_pgs=481, n_genes=1000, n_snps=2000, simulator="independent",
                                  random_state=0)
    tmp = None
    if cfg["files"]:
        tmp = tempfile.TemporaryDirectory()
        write_image_folder(ds, tmp.name, format="jpeg")
        images = read_images(f"{tmp.name}/images.csv", cfg["image_size"])
        ds = ds.drop_vars(["image"]).assign(image=images["image"].assign_coords(sample=ds["sample"].values))
    steps = max(1, cfg["n"] // cfg["batch_size"])
    bare, contig = [], []
    for _ in range(cfg["repeats"]):
        bare.append(bare_step_rate(cfg["encoder"], cfg["image_size"], cfg["batch_size"], steps, device,
                                   cfg["precision"], cfg["compile"]))
        contig.append(contig_rate(ds, cfg, device))
    b, c = statistics.median(bare), statistics.median(contig)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; config {args.config}: {cfg['encoder']}, {cfg['image_size']} px, "
          f"batch {cfg['batch_size']}, precision {cfg['precision']}, genetics: snp 2000 / pgs 481 / burden 1000 (H1)")
    print(f"{'run':<40}{'images/s':>12}")
    print(f"{'bare torchvision train step':<40}{b:>12.1f}")
    print(f"{'ContIGPretrainer.fit':<40}{c:>12.1f}")
    print(f"{'ratio ContIG / bare':<40}{c / b:>12.3f}")
    print("repeats bare:", [round(v, 1) for v in bare], "contig:", [round(v, 1) for v in contig])
    if tmp is not None:
        tmp.cleanup()
    return c / b


if __name__ == "__main__":
    main()
