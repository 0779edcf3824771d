"""Tests of the training stage's checkpoints (the whole stage is run in
test_pipeline.py)."""

import pytest
import torch

from dietnet_cli.errors import DietnetError
from dietnet_cli.train import CHECKPOINT_FORMAT, _load_checkpoint


def run_key(**changes):
    return {"dataset_checksum": "abc", **changes}


def save(path, key, state, checkpoint_format=CHECKPOINT_FORMAT):
    payload = {"run_key": repr(key), "state": state}
    if checkpoint_format is not None:
        payload["format"] = checkpoint_format
    torch.save(payload, path)


class TestCheckpoint:
    def test_same_run_resumes(self, tmp_path):
        path = tmp_path / "model.dietnet.checkpoint"
        save(path, run_key(), {"epoch": 3})
        assert _load_checkpoint(path, run_key())["epoch"] == 3

    def test_other_options_are_refused(self, tmp_path):
        path = tmp_path / "model.dietnet.checkpoint"
        save(path, run_key(dataset_checksum="def"), {})
        with pytest.raises(DietnetError, match="other data or options"):
            _load_checkpoint(path, run_key())

    def test_an_older_version_is_refused(self, tmp_path):
        # before format 2 the shrinkage was a parameter: its optimizer state
        # would not load into today's optimizer
        path = tmp_path / "model.dietnet.checkpoint"
        save(path, run_key(), {}, checkpoint_format=None)
        with pytest.raises(DietnetError, match="another version of dietnet"):
            _load_checkpoint(path, run_key())
