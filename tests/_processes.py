"""Run a training script in a child process and kill it mid-fit."""

import json
import signal
import subprocess
import sys
import time

import pytest


def kill_after_epochs(script, checkpoint_dir, epochs=2, timeout=240):
    """Run ``script`` and SIGKILL it once its checkpoint history holds ``epochs`` epochs.

    Returns the number of epochs the checkpoint recorded before the kill. Fails
    the calling test when the script ends on its own or ``timeout`` passes.
    """
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    history = checkpoint_dir / "latest" / "history.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if history.exists():
            try:
                if len(json.loads(history.read_text())) >= epochs:
                    break
            except json.JSONDecodeError:
                pass
        if proc.poll() is not None:
            pytest.fail(f"fit ended before it was killed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"no checkpoint with {epochs} epochs after {timeout} s")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(json.loads(history.read_text()))
