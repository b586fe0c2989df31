"""The numbered examples of ``examples/`` run as scripts, each in its own process.

Every example runs in an empty working directory with ``OMP_NUM_THREADS=1`` under a
timeout (its whole process group is killed past it, so ``torchrun`` children do not
outlive a hang), two at a time (one per core), and must exit 0, write its figure(s) as PNG into the output folder
(``SKLEARN_CONTIG_EXAMPLES_OUT``, or ``examples_output/`` in the working directory
when unset) and nothing else into the working directory, and print its key result.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: Seconds an example may run before it counts as hung (each takes 10-30 s on 2 cores).
TIMEOUT = 240

needs_plink2 = [
    pytest.mark.plink,
    pytest.mark.skipif(shutil.which("plink2") is None,
                       reason="plink2 not installed (make test installs it via apt)"),
]

#: script -> (figures written under <output>/<script stem>/, patterns the output must match)
CASES = {
    "01_pretrain_from_files.py": (
        ["retrieval.png"],
        [r"cohort: 120 images, modalities \['snp', 'pgs', 'burden'\]",
         r"held-out top-5 retrieval +pgs: ContIG \d\.\d{3}, untrained \d\.\d{3} \(chance 0\.139\)",
         r"reloaded embeddings match: True"],
    ),
    "02_finetune_gridsearch.py": (
        ["gridsearch.png"],
        [r"pretrained: CV quadratic weighted kappa -?\d\.\d{3}",
         r"scratch: CV quadratic weighted kappa -?\d\.\d{3}",
         r"best start: (pretrained|scratch); held-out quadratic weighted kappa -?\d\.\d{3}"],
    ),
    "03_explain.py": (
        ["top_pgs.png"],
        [r"signed attributions of 3 people: \{'sample': 3, 'pgs_id': 60\}",
         r"causal among the top 10: \d+ \(of \d+ causal in 60 PGS\)",
         r"easy-trait causal vs noise PGS ROC-AUC: \d\.\d{3}"],
    ),
    "04_gwas_held_out.py": (
        ["manhattan.png"],
        [r"phenotypes: 80 held-out individuals x 3 components",
         r"900 association tests; lambda_GC \d+\.\d\d",
         r"SNPs below the Bonferroni threshold 1\.7e-04: \d+ \(\d+ of them planted\)"],
    ),
    "05_multi_process.py": (
        ["loss.png"],
        [r"launching: -m torch\.distributed\.run --standalone --nproc_per_node 2 ",
         r"trained in 2 processes \(global batch 64\)",
         r"identical: True"],
    ),
    "06_published_weights.py": (
        ["finetune.png"],
        [r"resnet18-published\.pth: loaded into resnet18, conv1 weights equal to the file's: True",
         r"contig-authors-layout\.ckpt: loaded into resnet18, conv1 weights equal to the file's: True",
         r"resnet50 from a resnet18 file: .*does not match",
         r"encoder started from published weights: True",
         r"held-out micro ROC-AUC: \d\.\d{3}"],
    ),
}

#: Examples run without SKLEARN_CONTIG_EXAMPLES_OUT, to check the default output folder.
DEFAULT_OUTPUT = {"03_explain.py"}
#: Examples running at once: one per core of a 2-core machine (each uses one thread).
PARALLEL = 2


def example_env(extra=None):
    """The environment of an example: one thread, Agg, this checkout first on the path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           **(extra or {})}
    env.pop("LOCAL_RANK", None)  # as a user starts it, not from inside a torchrun process
    return env


def start_example(script, cwd, log, env=None):
    """Start ``examples/<script>`` in ``cwd``, output to the file ``log``, in its own session."""
    with open(log, "w") as fh:
        return subprocess.Popen([sys.executable, str(EXAMPLES / script)], cwd=cwd, env=example_env(env),
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def finish_example(script, proc, log, timeout):
    """Wait for ``proc``; its exit status and output. Past ``timeout`` s its process group is killed."""
    try:
        proc.wait(timeout=max(timeout, 0))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the example and any process it started
        proc.wait()
        pytest.fail(f"{script} did not finish within {TIMEOUT} s:\n{Path(log).read_text()[-4000:]}")
    return proc.returncode, Path(log).read_text()


class ExampleRuns:
    """The selected examples, run ``PARALLEL`` at a time in the order of the tests.

    Asking for one example's result starts it (if needed) and the next
    ``PARALLEL - 1`` selected ones, so that they run while the test waits.
    """

    def __init__(self, scripts, tmp_path_factory):
        self.scripts = list(scripts)
        self.tmp_path_factory = tmp_path_factory
        self.running = {}

    def _start(self, script):
        base = self.tmp_path_factory.mktemp(Path(script).stem)
        cwd = base / "cwd"
        cwd.mkdir()
        if script in DEFAULT_OUTPUT:
            env, out_root = {}, cwd / "examples_output"
        else:
            out_root = base / "out"
            env = {"SKLEARN_CONTIG_EXAMPLES_OUT": str(out_root)}
        log = base / "output.txt"
        proc = start_example(script, cwd, log, env)
        self.running[script] = (proc, log, cwd, out_root, time.monotonic() + TIMEOUT)

    def result(self, script):
        """Exit status, output, working directory and output root of ``script``."""
        i = self.scripts.index(script)
        for s in self.scripts[i:i + PARALLEL]:
            if s not in self.running:
                self._start(s)
        proc, log, cwd, out_root, deadline = self.running[script]
        code, output = finish_example(script, proc, log, deadline - time.monotonic())
        return code, output, cwd, out_root

    def close(self):
        for proc, *_ in self.running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def example_runs(request, tmp_path_factory):
    """Runs of the examples whose ``test_example_runs`` is selected and not skipped."""
    selected = [
        item.callspec.params["script"] for item in request.session.items
        if getattr(item, "originalname", None) == "test_example_runs"
        and not any(m.args and m.args[0] for m in item.iter_markers("skipif"))
    ]
    runs = ExampleRuns(selected, tmp_path_factory)
    yield runs
    runs.close()


def test_every_numbered_example_is_tested():
    numbered = sorted(p.name for p in EXAMPLES.glob("[0-9][0-9]_*.py"))
    assert numbered == sorted(CASES)


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [pytest.param(s, marks=needs_plink2) if s.startswith("04_") else s for s in CASES],
)
def test_example_runs(script, example_runs):
    figures, patterns = CASES[script]
    code, output, cwd, out_root = example_runs.result(script)
    assert code == 0, f"{script} exited with {code}:\n{output[-6000:]}"
    for pattern in patterns:
        assert re.search(pattern, output), f"{script}: no line matches {pattern!r} in\n{output[-4000:]}"
    out = out_root / Path(script).stem
    for name in figures:
        png = out / name
        assert png.is_file(), f"{script} did not write {png}"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
        assert f"figure: {png.relative_to(cwd) if script in DEFAULT_OUTPUT else png}" in output
    # nothing outside the output folder
    expected = ["examples_output"] if script in DEFAULT_OUTPUT else []
    assert sorted(os.listdir(cwd)) == expected


def test_gwas_example_without_plink2_says_so_and_exits_0(tmp_path):
    """With no plink2 on PATH the GWAS example stops before any work, exit status 0."""
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = start_example("04_gwas_held_out.py", tmp_path, tmp_path / "output.txt",
                         {"PATH": str(empty), "SKLEARN_CONTIG_EXAMPLES_OUT": str(tmp_path / "out")})
    code, output = finish_example("04_gwas_held_out.py", proc, tmp_path / "output.txt", timeout=60)
    assert code == 0, output
    assert "plink2 is not on PATH" in output
    assert not (tmp_path / "out").exists()
