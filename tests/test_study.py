import textwrap

import pytest

from sweeper import Split, Study, StudyError, load_study, loguniform
from sweeper.builtin.hparams import HPARAMS
from sweeper.usercode.identity import config_id
from tests.conftest import tiny_study


def test_defaults_resolve_every_hyperparameter():
    study = tiny_study()
    config = study.config({"momentum": 0.5})
    assert list(config) == list(HPARAMS)
    assert config["momentum"] == 0.5 and config["hidden_size"] == 16 and config["optimizer"] == "sgd"


def test_seeds_as_count_or_list():
    assert tiny_study(seeds=3).seed_list == [0, 1, 2]
    assert tiny_study(seeds=[7, 3]).seed_list == [7, 3]


def test_config_id_is_stable_and_distinguishes_configs():
    a = tiny_study().config({"momentum": 0.0})
    assert config_id(a) == config_id(dict(reversed(list(a.items()))))
    assert config_id(a) != config_id({**a, "momentum": 0.9})
    assert len(config_id(a)) == 10


def test_direction_is_inferred_from_the_metric():
    assert tiny_study().direction == "maximize"
    assert tiny_study(metric="val_loss").direction == "minimize"


def test_fingerprint_ignores_seeds_but_not_fixed_values():
    base = tiny_study()
    assert base.fingerprint() == tiny_study(seeds=10).fingerprint()
    assert base.fingerprint() != tiny_study(fixed={**base.fixed, "hidden_size": 17}).fingerprint()


def test_unknown_field_suggests_the_closest():
    with pytest.raises(StudyError, match=r"unknown field `sede`.*did you mean `seeds`"):
        Study(name="x", sede=3)


def test_unknown_hyperparameter_suggests_the_closest():
    with pytest.raises(StudyError, match=r"`learnig_rate`.*did you mean `learning_rate`"):
        Study(name="x", space={"learnig_rate": [0.1]})


def test_values_are_checked_against_the_rule():
    with pytest.raises(StudyError, match=r"`learning_rate` = -0.1 .*> 0"):
        Study(name="x", space={"learning_rate": [0.1, -0.1]})
    with pytest.raises(StudyError, match=r"`momentum` = 1.5"):
        Study(name="x", sampler="random", n_trials=3, space={"momentum": loguniform(0.5, 1.5)})


def test_random_and_bayes_need_a_trial_count():
    with pytest.raises(StudyError, match="n_trials"):
        Study(name="x", sampler="bayes", space={"momentum": [0.0, 0.9]})


def test_split_accepts_a_dict():
    assert Study(name="x", split={"train": 10, "val": 5}).split == Split(train=10, val=5)


def test_load_study_file(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("from sweeper import Study\nstudy = Study(name='ok', space={'momentum': [0.0, 0.5]})\n")
    assert load_study(path).name == "ok"


def test_load_study_reports_file_and_line(tmp_path):
    path = tmp_path / "s.py"
    path.write_text(textwrap.dedent("""\
        from sweeper import Study

        study = Study(
            name="bad",
            space={"optimizer": ["sgd", "adamm"]},
        )
    """))
    with pytest.raises(StudyError, match=r"s\.py:3: field `space`: `optimizer` = 'adamm'"):
        load_study(path)
