"""Peak memory of ``read_genotypes`` on a 20,000 x 20,000 .bed (float16, 2 bytes per call).

Writes a random PLINK .bed of ``--n`` people x ``--p`` SNPs (0.5 % missing calls)
straight as bytes, then reads it in a fresh subprocess per configuration and
reports the result's ``nbytes`` and the process's peak RSS above its RSS after
the imports (``resource.getrusage``).

    python benchmarks/genotype_memory.py            # 20,000 x 20,000
    python benchmarks/genotype_memory.py --n 2000 --p 2000
    python benchmarks/genotype_memory.py --float32 --store  # also read_plink, a zarr store
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
from sklearn_contig.data import read_genotypes, read_plink
path, how = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if how == "read_plink_float32":
    snp = read_plink(path)
elif how == "read_genotypes_zarr_store":
    snp = read_genotypes(path, store=path[:-4] + ".zarr")
else:
    snp = read_genotypes(path)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"how": how, "dtype": str(snp.dtype), "shape": list(snp.shape),
                  "nbytes": int(snp.nbytes), "bytes_per_call": snp.nbytes / snp.size,
                  "peak_rss_above_imports_mb": (peak - base) / 1024,
                  "peak_rss_mb": peak / 1024, "seconds": round(seconds, 1)}))
"""


def write_bed(prefix: Path, n: int, p: int, seed: int = 0, block: int = 1000):
    rng = np.random.default_rng(seed)
    per_variant = (n + 3) // 4
    with open(f"{prefix}.bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        for start in range(0, p, block):
            k = min(block, p - start)
            freq = rng.uniform(0.05, 0.5, size=(k, 1))
            dosage = (rng.random((k, n)) < freq).astype(np.uint8) + (rng.random((k, n)) < freq)
            # .bed codes: 00 hom A1, 10 het, 11 hom A2, 01 missing
            code = np.choose(dosage, [0b00, 0b10, 0b11]).astype(np.uint8)
            code[rng.random((k, n)) < 0.005] = 0b01
            pad = np.zeros((k, per_variant * 4), np.uint8)
            pad[:, :n] = code
            q = pad.reshape(k, per_variant, 4)
            packed = q[..., 0] | (q[..., 1] << 2) | (q[..., 2] << 4) | (q[..., 3] << 6)
            fh.write(packed.astype(np.uint8).tobytes())
    with open(f"{prefix}.fam", "w") as fh:
        fh.writelines(f"i{i} i{i} 0 0 0 -9\n" for i in range(n))
    with open(f"{prefix}.bim", "w") as fh:
        fh.writelines(f"1\trs{j}\t0\t{j + 1}\tA\tG\n" for j in range(p))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--p", type=int, default=20_000)
    parser.add_argument("--float32", action="store_true", help="also measure read_plink (float32)")
    parser.add_argument("--store", action="store_true", help="also measure writing a zarr store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "cohort"
        write_bed(prefix, args.n, args.p)
        hows = ["read_genotypes_float16"] + (["read_plink_float32"] if args.float32 else [])
        hows += ["read_genotypes_zarr_store"] if args.store else []
        for how in hows:
            out = subprocess.run([sys.executable, "-c", CHILD, f"{prefix}.bed", how],
                                 check=True, capture_output=True, text=True)
            print(json.dumps(json.loads(out.stdout.strip().splitlines()[-1])))


if __name__ == "__main__":
    main()
