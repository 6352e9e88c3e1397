"""The method interface (seller_core/methods/): the registry finds every method from its module,
each method's section is validated by the schema fragment beside it, and its settings split once
into what changes its model, what changes only its explanations, and run control."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from seller_core import methods
from seller_core.config import ConfigError, load_config, validate_config
from seller_core.methods.base import Method, parse_run, split_keys


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_the_registry_holds_every_method_module():
    reg = methods.registry()
    assert list(reg) == ["controls", "pepler", "peter", "seller", "xrec"]
    assert {m for m, x in reg.items() if x.trains} == {"pepler", "peter", "seller", "xrec"}
    assert {m for m, x in reg.items() if x.uses_llm} == {"pepler", "seller", "xrec"}


def test_names_runs_and_lookups(config):
    cfg = {**config, "seeds": [0, 3]}
    seller = methods.get("seller")
    assert seller.names(cfg)[:2] == ["seller", "seller_wo_be"]
    assert seller.runs("seller_wo_be", cfg) == ["seller_wo_be", "seller_wo_be-s3"]
    assert methods.get("controls").runs("gt", cfg) == ["gt"]  # not trained: one run
    assert methods.of_run("seller_wo_be-s3", cfg) is seller and seller.variant("seller_wo_be-s3") == "wo_be"
    assert seller.seed("seller_wo_be-s3", cfg) == 3 and seller.seed("seller", cfg) == 0
    assert methods.for_run("seller_kind_intent-s1") is seller  # without a config: by module prefix
    assert methods.for_run("random_both").name == "controls"
    assert parse_run("xrec-s12") == ("xrec", 12) and parse_run("xrec") == ("xrec", None)
    with pytest.raises(KeyError, match="unknown explanation method 'nope'; known: .*pepler"):
        methods.of_name("nope", cfg)
    with pytest.raises(KeyError, match="no method for run 'nope'"):
        methods.for_run("nope")


@pytest.mark.parametrize("name", ["pepler", "peter", "seller", "xrec"])
def test_settings_split_once(config, name):
    """A run-control key changes only run_control; an explain key only explain_settings; any other
    key of the section changes the trained model's settings (what reruns training)."""
    m = methods.get(name)
    run = m.names(config)[0]
    base = (m.train_settings(config, run), m.explain_settings(config, run), m.run_control(config))

    def changed(key, value):
        cfg = copy.deepcopy(config)
        head, _, sub = key.partition(".")
        if sub:
            cfg[m.section][head][sub] = value
        else:
            cfg[m.section][head] = value
        now = (m.train_settings(cfg, run), m.explain_settings(cfg, run), m.run_control(cfg))
        return [a != b for a, b in zip(base, now)]

    for key in m.run_keys:
        assert changed(key, 7 if key != "device" else "cuda") == [False, False, True], key
    for key in m.explain_keys:
        assert changed(f"{key}.max_new_tokens", 3) == [False, True, False], key
    assert changed("batch_size", 3) == [True, False, False]
    flat = repr(base[0])
    assert all(f"'{k.partition('.')[2] or k}'" not in flat for k in m.run_keys if k != "generate.batch_size")


@pytest.mark.parametrize("name", ["pepler", "peter", "seller", "xrec"])
def test_a_trainer_gets_tracked_and_run_control_apart(config, name):
    """What a train rule hands its trainer: the tracked section untouched (what the trainer fingerprints
    and saves) and, apart, the run control it merges in for use, so no code below splits them again."""
    m = methods.get(name)
    run = m.names(config)[0]
    settings, control = m.train_settings(config, run), m.run_control(config)
    tracked, run_part = m.trainer_settings(settings, control)
    assert tracked == settings[m.section]
    assert run_part["checkpoint"] == config["checkpoint"]
    for key in m.run_keys:
        head, _, sub = key.partition(".")
        assert head not in tracked or sub, key  # a top-level run key never reaches the fingerprint
        if head not in m.explain_keys:
            assert run_part[head] == config[m.section][head], key
    assert not set(run_part) & set(m.explain_keys)  # generation settings stay with the explain step


def test_split_keys_takes_dotted_keys_out_of_subsections():
    rest, taken = split_keys({"a": 1, "g": {"b": 2, "c": 3}}, ("a", "g.b", "missing", "g.missing"))
    assert rest == {"g": {"c": 3}} and taken == {"a": 1, "g": {"b": 2}}


def test_a_methods_section_is_validated_by_its_fragment(config):
    raw = {"datasets": {"d": {"format": "yelp", "synthetic": {"users": 10, "items": 10}}}}
    cfg = validate_config(copy.deepcopy(raw))
    assert cfg["peter"]["emsize"] == 512 and cfg["seg"]["generate"]["max_new_tokens"] == 64  # fragment defaults
    with pytest.raises(ConfigError, match="config key pepler: Additional properties .*'nope'"):
        validate_config({**copy.deepcopy(raw), "pepler": {"nope": 1}})
    with pytest.raises(ConfigError, match="config key xrec.lr: -1 is less than or equal"):
        validate_config({**copy.deepcopy(raw), "xrec": {"lr": -1}})


def test_the_registry_refuses_a_malformed_method(tmp_path):
    class NoTrain(Method):
        name, section, trains = "x", None, True

        def explain(self, *a):
            pass

    class Fine(NoTrain):
        def train(self, *a):
            pass

    def mod(method, name="x"):
        return SimpleNamespace(__file__=str(tmp_path / f"{name}.py"), METHOD=method)

    assert methods.checked("x", SimpleNamespace(__file__="x.py")) is None  # a helper module, not a method
    assert methods.checked("x", mod(Fine())).name == "x"
    with pytest.raises(TypeError, match=r"x\.py: x declares trains=True but does not define train\(\)"):
        methods.checked("x", mod(NoTrain()))
    with pytest.raises(ValueError, match="METHOD.name is 'x'; it must be the module's name 'y'"):
        methods.checked("y", mod(Fine(), "y"))
    with pytest.raises(ValueError, match="'sasrec' is not a method name"):
        methods.checked("sasrec", mod(Fine(), "sasrec"))
    with pytest.raises(TypeError, match="METHOD must be an instance"):
        methods.checked("x", mod(object()))


def test_every_method_declares_files_its_rules_can_read(config):
    for m in methods.all_methods():
        for pattern in {**m.train_inputs, **m.explain_inputs}.values():
            assert pattern.startswith("results/") and "{ds}" in pattern, (m.name, pattern)
        files = m.explain_files("/r", "tiny", m.names(config)[0])
        assert all(str(p).startswith("/r/") for p in files.values())
        if m.trains:
            assert str(files["model"]) == f"/r/models/tiny/{m.names(config)[0]}/model.pt"
