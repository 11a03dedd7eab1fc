from pathlib import Path

import yaml

from safestack.pipeline import RunConfig, load_run_config
from safestack.train.config import to_dict

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_run_configs_load_and_run_yaml_lists_the_defaults():
    for f in sorted((ROOT / "configs").glob("run*.yaml")) + sorted((ROOT / "configs").glob("demo*.yaml")):
        load_run_config(str(f))
    assert yaml.safe_load((ROOT / "configs" / "run.yaml").read_text()) == to_dict(RunConfig())


def test_shipped_training_configs_load_into_their_settings():
    from safestack.train.config import SafeRLHFSettings, SFTSettings, from_dict, load_yaml

    kinds = {"safe-rlhf": SafeRLHFSettings, "sft": SFTSettings}
    seen = 0
    for f in sorted((ROOT / "configs").glob("*.yaml")):
        cls = next((c for k, c in kinds.items() if f.name.startswith(k)), None)
        if cls:
            from_dict(cls, load_yaml(str(f)), str(f))
            seen += 1
    assert seen >= 3


def test_training_settings_share_one_base_and_only_override_defaults():
    """Every method's settings derive from TrainSettings; a method restates a shared field only to change its
    default; one name for activation checkpointing; modes are Literal types checked when a config is read."""
    import dataclasses
    import typing

    import pytest

    from safestack.errors import BadInput
    from safestack.train.config import (DPOSettings, RewardSettings, RRSettings, SafeRLHFSettings, SFTSettings,
                                        TrainSettings, from_dict)

    base = {f.name: f for f in dataclasses.fields(TrainSettings)}
    for cls in (DPOSettings, SFTSettings, RewardSettings, SafeRLHFSettings, RRSettings):
        assert issubclass(cls, TrainSettings) and base.keys() <= {f.name for f in dataclasses.fields(cls)}
        for klass in cls.__mro__[:-1]:
            if klass is TrainSettings or not dataclasses.is_dataclass(klass):
                continue
            for name in set(klass.__dict__.get("__annotations__", {})) & set(base):
                own = klass.__dataclass_fields__[name]
                same = (own.default == base[name].default if own.default is not dataclasses.MISSING
                        else own.default_factory() == base[name].default_factory())
                assert not same, f"{klass.__name__}.{name} restates the shared default"
        names = {f.name for f in dataclasses.fields(cls)}
        assert "gradient_checkpointing" not in names and "activation_checkpointing" in names
    hints = typing.get_type_hints(SafeRLHFSettings)
    assert typing.get_origin(hints["mode"]) is typing.Literal
    assert typing.get_origin(typing.get_type_hints(RewardSettings)["kind"]) is typing.Literal
    with pytest.raises(BadInput, match="'mode' must be one of lagrange, mix"):
        from_dict(SafeRLHFSettings, {"mode": "lagrangian"})
    with pytest.raises(BadInput, match="now called 'activation_checkpointing'"):
        from_dict(SFTSettings, {"gradient_checkpointing": True})
    assert from_dict(RRSettings, {"lr_scheduler": "cosine"}).lr_scheduler == "cosine"
