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
