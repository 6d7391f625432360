"""Parameter name -> (H-Net stage, component), so checkpoint statistics can be grouped.

The official H-Net code nests one `HNet` module per stage: stage s holds `encoder`,
`routing_module`, `residual_proj`, `main_network` and `decoder`; its `main_network` is
either the next stage's `HNet` (stage s+1) or, in the innermost stage, a plain layer stack
(`layers`, `rmsnorm`). Inner stages wider than their parent carry `pad_dimension`. So a
name is read from the outside in, one `main_network.` at a time:

    embeddings.weight                                        -> (0, "embeddings")
    lm_head.weight                                           -> (0, "head")
    backbone.encoder.layers.0.mixer.in_proj.weight           -> (0, "encoder")
    backbone.routing_module.q_proj_layer.weight              -> (0, "routing")
    backbone.main_network.pad_dimension                      -> (1, "pad")
    backbone.main_network.main_network.layers.3.mlp.fc1.weight -> (1, "main")  (1-stage model)
    backbone.main_network.layers.0.mixer.Wqkv.weight         -> (0, "main")  (plain ["T6"] model)

Wrappers add prefixes (`module.` from DDP, `_orig_mod.` from torch.compile, `model.` from
Lightning or Hugging Face) or infixes (`_checkpoint_wrapped_module.`, `_fsdp_wrapped_module.`);
they are removed first. Plain transformer names (nanoGPT, GPT-2, Llama) map onto stage 0,
which is the whole model of a 0-stage network. Anything else is (None, "other").
"""
from __future__ import annotations

import re

#: components a name can map to
COMPONENTS = ("embeddings", "encoder", "routing", "main", "decoder", "head", "residual", "pad", "dechunk", "other")

_WRAPPER_INFIXES = re.compile(r"(?:^|(?<=\.))(?:_checkpoint_wrapped_module|_fsdp_wrapped_module|_orig_mod)\.")
_WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")

# names inside one HNet stage module
_STAGE_PARTS = {
    "encoder": "encoder",
    "decoder": "decoder",
    "routing_module": "routing",
    "residual_proj": "residual",
    "pad_dimension": "pad",
    "chunk_layer": "routing",
    "dechunk_layer": "dechunk",
}
# members of the innermost plain stack (the official `Isotropic` module)
_STACK_PARTS = ("layers", "rmsnorm")

# plain (0-stage) language models: first name part(s) -> component
_PLAIN = [
    (re.compile(r"(?:transformer\.)?(?:wte|wpe|embed_tokens|tok_embeddings|embed_in|word_embeddings)\."), "embeddings"),
    (re.compile(r"(?:transformer\.)?(?:h|layers|blocks|ln_f|norm|final_layernorm|final_layer_norm)(?:\.|$)"), "main"),
    (re.compile(r"(?:lm_head|output|embed_out)\."), "head"),
]


def strip_wrappers(name: str) -> str:
    """Remove DDP / torch.compile / FSDP / Lightning wrapper parts from a parameter name."""
    name = _WRAPPER_INFIXES.sub("", name)
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
                changed = True
    return name


def locate(name: str) -> tuple[int | None, str]:
    """The (stage, component) a parameter or buffer belongs to; (None, "other") if unknown."""
    bare = strip_wrappers(name)
    if bare.startswith("embeddings."):
        return 0, "embeddings"
    if bare.startswith("lm_head."):
        return 0, "head"
    if bare.startswith("backbone."):
        return _within_stage(bare[len("backbone."):], 0)
    for pattern, component in _PLAIN:
        if pattern.match(bare):
            return 0, component
    return None, "other"


def _within_stage(rest: str, stage: int) -> tuple[int | None, str]:
    """Resolve a name relative to the HNet module of `stage`."""
    head, _, tail = rest.partition(".")
    if head == "main_network":
        if tail.split(".", 1)[0] in _STACK_PARTS:
            return stage, "main"
        return _within_stage(tail, stage + 1)
    if head in _STAGE_PARTS:
        return stage, _STAGE_PARTS[head]
    if head in _STACK_PARTS:  # a stage whose stack sits directly under backbone (plain model)
        return stage, "main"
    return stage, "other"
