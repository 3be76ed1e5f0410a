"""Real training on the 5k MNIST subset: minutes, so `make test-slow` runs it."""

import json

import pytest

from gan_tf import cli


@pytest.mark.slow
def test_conditional_gan_draws_the_requested_digits(tmp_path):
    run = tmp_path / "cgan"
    assert cli.main(["train", "--dataset", "mnist5k", "--conditional", "--epochs", "10", "--run", str(run),
                     "--eval-every", "10"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    # The in-project classifier reads most samples as the digit they were asked for.
    assert metrics["conditional_accuracy"] > 0.6, metrics
    assert metrics["modes_covered"] == 10
