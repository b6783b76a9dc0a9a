"""A fit killed (SIGKILL) at random points resumes from its last checkpoint,
loses at most the epoch in progress at each kill, and ends with the model and
metrics of an uninterrupted run."""

import json
import random
import subprocess
import sys
import time

import pytest
import torch

from v1lib.data import save_scans

from .conftest import ROOT

EPOCHS = 12
KILLS = 5

# A fit into a folder (v1lib.model_cache.train_model, as `python -m v1lib fit`
# runs it), then its scores on the test tier. The log gets "start RUN" when an
# epoch starts and "saved RUN EPOCH" once its checkpoint is written.
FIT = r'''
import hashlib, json, sys
from pathlib import Path

import torch

torch.set_num_threads(1)
import v1lib.train as train
from v1lib.data import load_scans
from v1lib.evaluation import evaluate
from v1lib.model_cache import train_model
from v1lib.models import CoreConfig, ModelConfig
from v1lib.train import TrainConfig

data, out, log, run = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
real_epoch, real_save = train._epoch, train._save


def note(line):
    with open(log, "a") as f:
        f.write(line + "\n")


def epoch(*args):
    note(f"start {run}")
    return real_epoch(*args)


def save(checkpoint, model, opt, gen, state):
    real_save(checkpoint, model, opt, gen, state)
    note(f"saved {run} {state['epoch']}")


train._epoch, train._save = epoch, save
scans = load_scans(data)
core = CoreConfig(layers=2, channels=6, input_kernel=7, hidden_kernel=3)
# patience 2 and many decay steps: the learning rate decays and the best weights
# come back during the run, but it never stops early
config = TrainConfig(batch_size=32, lr=0.01, max_epochs=int(sys.argv[5]), patience=2,
                     lr_decay_steps=100)
res = train_model(scans, ModelConfig(core=core), config, 1, out, show_progress=False)
_, summary, _ = evaluate(res.model, res.tensors, scans)
h = res.history
weights = hashlib.sha256(b"".join(v.numpy().tobytes() for v in res.model.state_dict().values()))
print(json.dumps({"summary": summary, "weights": weights.hexdigest(),
                  "history": {k: h[k].values.tolist() for k in ("train_loss", "val_score", "lr")}}))
'''


def _start(data, out, log, run):
    return subprocess.Popen([sys.executable, "-c", FIT, str(data), str(out), str(log), str(run),
                             str(EPOCHS)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _lines(log, run=None):
    lines = [ln.split() for ln in log.read_text().splitlines()] if log.is_file() else []
    return [ln for ln in lines if run is None or ln[1] == str(run)]


def _saved(log, run):
    return [int(ln[2]) for ln in _lines(log, run) if ln[0] == "saved"]


def _result(proc):
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_fit_killed_at_random_points_resumes_to_the_uninterrupted_result(tmp_path, tiny_scans):
    data = save_scans(tiny_scans, tmp_path / "tiny.nc")
    reference = _start(data, tmp_path / "reference", tmp_path / "reference.log", 0)
    out, log = tmp_path / "run", tmp_path / "run.log"
    rng = random.Random(14)
    # kill once the checkpoint of one of these epochs is written, a random part
    # of an epoch later (during the next epoch, or while saving its checkpoint)
    after = sorted(rng.sample(range(1, EPOCHS - 4), KILLS))  # leaves time to kill
    checkpointed = []
    for run, k in enumerate(after):
        proc = _start(data, out, log, run)
        t0, seen = time.monotonic(), []  # when each checkpoint of this run appeared
        while not (seen and _saved(log, run)[-1] >= k):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() - t0 < 120, "no checkpoint written"
            seen += [time.monotonic()] * (len(_saved(log, run)) - len(seen))
            time.sleep(0.005)
        epoch_s = seen[-1] - seen[-2] if len(seen) > 1 else 0.2
        time.sleep(rng.random() * epoch_s)
        proc.kill()  # SIGKILL
        proc.communicate()
        assert proc.returncode == -9
        ck = torch.load(out / "checkpoint.pt", weights_only=False)["state"]["epoch"]
        checkpointed.append(ck)
        # the checkpoint holds every epoch this run finished (none is lost) ...
        assert ck >= _saved(log, run)[-1]
    final = _result(_start(data, out, log, KILLS))
    for run in range(KILLS + 1):
        started = sum(ln[0] == "start" for ln in _lines(log, run))
        saved = _saved(log, run)
        # ... each run resumes from its predecessor's checkpoint ...
        assert saved[0] == (checkpointed[run - 1] + 1 if run else 1), (run, saved)
        # ... and a kill loses at most the epoch in progress
        assert started - len(saved) <= 1, (run, started, saved)
    assert _saved(log, KILLS)[-1] == EPOCHS
    assert sum(ln[0] == "start" for ln in _lines(log)) <= EPOCHS + KILLS
    assert not (out / "checkpoint.pt").exists() and (out / "model.pt").is_file()
    # the same model, history and metrics as the uninterrupted run, to the bit
    assert final == _result(reference)
