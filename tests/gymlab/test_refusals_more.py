"""One-line refusals (exit 2) for settings the newer learners cannot honour."""

import pytest

from agents.maml import MAMLConfig
from tests.gymlab.test_bad_input import assert_one_line_error, run_cli


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["gan", "gymlab/Topics-v0", "--set", "conditional=true"], "needs one class per example"),
        (["gan", "gymlab/Digits-v0", "--set", "conditional=true", "--env-kwargs", "classes=3,5"], "drop --env-kwargs"),
        (["cyclegan", "gymlab/Digits-v0", "--set", "target=digits-reconstruction"], "labelled image tasks"),
        (["cyclegan", "gymlab/Moons-v0", "--set", "target=moons-rotated"], "labelled image tasks"),
        (["supervised", "gymlab/Topics-v0", "--set", "adv_select=true"], "adv_select perturb continuous inputs"),
    ],
)
def test_settings_a_learner_cannot_honour_are_refused_before_training(tmp_path, args, fragment):
    run_dir = tmp_path / "run"
    result = run_cli("train", *args, "--steps", "64", "--run-dir", str(run_dir))
    assert_one_line_error(result, fragment)
    assert not run_dir.exists()


def test_maml_evaluation_must_reach_the_inner_steps():
    with pytest.raises(ValueError, match="eval_steps"):
        MAMLConfig(inner_steps=3, eval_steps=1).check()


def test_attacks_refuse_learners_judged_on_several_splits():
    from agents.dann import DANN
    from agents.robustness import attackable_model

    agent = DANN("gymlab/Moons-v0", seed=0, target="moons-rotated", total_steps=64)
    with pytest.raises(ValueError, match="a dann run is judged on several"):
        attackable_model(agent)
