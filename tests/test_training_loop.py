"""The one training loop (eval.training.TrainingLoop): a run interrupted and resumed ends in the state
an uninterrupted one reaches; checkpoints, logs and refusals."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from eval.errors import EvalError
from eval.training import LOOP_KEYS, Budget, ModelTrainer, TrainingLoop, eval_mode, load_checkpoint, run_training

STEPS = 6


class Interrupted(Exception):
    """Stands in for a kill: raised inside a step, after earlier steps were checkpointed."""


class TinyTrainer(ModelTrainer):
    """Regression on data drawn from the loop's stream, with dropout and input noise from torch's global
    random state: a resume that lost either random state would not end where a straight run does."""

    def __init__(self, fail_at: int | None = None):
        torch.manual_seed(0)  # the initial weights: the caller's seed, as the loop's rule says
        self.model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        self.fail_at, self.steps_seen = fail_at, []

    def train_step(self, rng: np.random.Generator, step: int) -> dict[str, float]:
        if step == self.fail_at:
            raise Interrupted
        self.steps_seen.append(step)
        x = torch.from_numpy(rng.normal(size=(16, 4))).float()
        y = x.sum(dim=1, keepdim=True)
        loss = torch.nn.functional.mse_loss(self.model(x + 0.1 * torch.randn_like(x)), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": float(loss.detach()), "lr": 1e-2 * (step + 1) / STEPS}

    def evaluate(self) -> dict[str, float]:
        assert not torch.is_grad_enabled()
        with eval_mode(self.model):  # no dropout: the same weights give the same figure
            return {"error": float((self.model(torch.ones(2, 4)) - 4).abs().mean())}

    def export(self, folder, summary) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "weights.pt")
        (folder / "summary.json").write_text(json.dumps(summary))


def budget(**changes) -> Budget:
    return Budget(**{"minutes": 5, "max_steps": STEPS, "log_every": 2, "eval_every": 4, "checkpoint_minutes": 0.0, **changes})


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key == "seconds":
            continue
        if isinstance(a[key], torch.Tensor):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
        elif isinstance(a[key], dict):
            assert_same_state(a[key], b[key])
        else:
            assert a[key] == b[key], key


def rows(path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_an_interrupted_and_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    straight = run_training(TinyTrainer(), tmp_path / "straight", budget(), {"model": "tiny"})
    assert straight["steps"] == STEPS and set(straight["evaluation"]) == {"error"}

    interrupted = TinyTrainer(fail_at=4)
    with pytest.raises(Interrupted):
        run_training(interrupted, tmp_path / "split", budget(), {"model": "tiny"})
    assert interrupted.steps_seen == [0, 1, 2, 3]
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 4  # checkpointed after every step
    assert not list((tmp_path / "split").glob(".*partial*"))

    resumed_trainer = TinyTrainer()
    resumed = run_training(resumed_trainer, tmp_path / "split", budget(), {"model": "tiny"}, resume=True)
    assert resumed_trainer.steps_seen == [4, 5] and resumed["steps"] == STEPS
    final = {name: load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("straight", "split")}
    assert set(LOOP_KEYS) | {"model", "optimizer"} == set(final["straight"])
    assert_same_state(final["straight"], final["split"])
    assert resumed["evaluation"] == straight["evaluation"]
    assert json.loads((tmp_path / "split" / "model" / "summary.json").read_text())["steps"] == STEPS

    loss = rows(tmp_path / "split" / "loss.csv")
    assert [row["step"] for row in loss] == ["2", "4", "6"] and list(loss[0]) == ["step", "minutes", "loss", "lr"]
    assert float(loss[0]["lr"]) == pytest.approx(1e-2 * 1.5 / STEPS)  # a running mean, to 5 significant digits
    assert [row["step"] for row in rows(tmp_path / "split" / "eval.csv")] == ["4", "6"]  # and one at the end


def test_a_budget_of_steps_stops_and_a_new_run_does_not_overwrite_an_old_one(tmp_path):
    with pytest.raises(EvalError, match="--resume needs"):
        TrainingLoop(tmp_path / "none", budget(), resume=True)
    run_training(TinyTrainer(), tmp_path / "run", budget(max_steps=2, eval_every=0), {})
    assert not (tmp_path / "run" / "eval.csv").exists()  # eval_every=0: never, not even at the end
    with pytest.raises(EvalError, match="already holds a training run"):
        TrainingLoop(tmp_path / "run", budget())
    again = TinyTrainer()
    assert run_training(again, tmp_path / "run", budget(max_steps=2), {}, resume=True)["steps"] == 2 and again.steps_seen == []


def test_a_legacy_checkpoint_resumes_and_an_older_loss_log_keeps_its_columns(tmp_path):
    run_training(TinyTrainer(), tmp_path / "run", budget(max_steps=2, eval_every=0), {})
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    state["rng"] = state.pop("numpy_rng")  # synthvid-tiny's trainer wrote the data stream's state as "rng"
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    (tmp_path / "run" / "loss.csv").write_text("step,minutes,loss\n2,0.0,1.0\n")
    loop = TrainingLoop(tmp_path / "run", budget(), resume=True)
    assert loop.step == 2 and loop.rng.bit_generator.state == state["rng"]
    loop.run(TinyTrainer(), {})
    assert [list(row) for row in rows(tmp_path / "run" / "loss.csv")] == [["step", "minutes", "loss"]] * 3


def test_a_run_from_weights_trained_before_draws_fresh_data():
    first = TrainingLoop("unused", budget())
    later = TrainingLoop("unused", budget(), start_step=100, start_seconds=60.0)
    assert first.rng.random() == np.random.default_rng(0).random()
    assert later.step == 100 and later.rng.random() == np.random.default_rng([0, 100]).random()
