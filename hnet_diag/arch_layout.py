"""The H-Net `arch_layout` grammar: the one parser the config source and the trainer share.

As in the official code (goombalab/hnet, `HNet.__init__` and `Isotropic.__init__`):
`arch_layout` is a nested list. A three-element list `[encoder, main, decoder]` is a
chunking stage whose `main` is the next level; a one-element list `[main]` is the innermost
network. Each string is a run of layer groups `([mMtT])(\\d+)`: `m` = Mamba-2, `t` =
attention, upper case adds a gated MLP (when that level's `d_intermediate` is not 0).
A plain Transformer is `["T6"]` (0 stages); the 2-stage XL model is
`["m4", ["T1m4", ["T27"], "m4T1"], "m4"]`.

A group may count 0 layers (`"m0"`): the official `Isotropic` builds `range(0)` layers
for it, i.e. a stack that is only its final RMSNorm, so such a layout is valid. Unlike the
official `re.findall`, a string must consist of groups and nothing else (`"m4x"` is refused
rather than read as `"m4"`), so a typo fails with a sentence instead of building another
model.

Pure Python, no torch: the run loader reads layouts without the model package.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

LAYER_GROUP = re.compile(r"([mMtT])(\d+)")
LAYOUT_STRING = re.compile(r"(?:[mMtT]\d+)+")
#: deeper nesting is refused (the paper goes to 2 stages; this only bounds hostile input)
MAX_LEVELS = 16


@dataclass(frozen=True)
class LayerGroup:
    """`count` consecutive layers of one kind, e.g. "m4" -> LayerGroup("m", 4)."""

    kind: str  # "m", "M", "t" or "T"
    count: int

    @property
    def is_mamba(self) -> bool:
        return self.kind in "mM"

    @property
    def has_mlp(self) -> bool:
        """Upper case: the layer has an MLP (if its level's d_intermediate is not 0)."""
        return self.kind.isupper()

    @property
    def height(self) -> int:
        """Residual additions per layer (mixer, plus MLP for upper case): the official
        init divides output projections by sqrt(total height)."""
        return self.count * (2 if self.has_mlp else 1)


@dataclass(frozen=True)
class LevelLayout:
    """The layers of one hierarchy level: encoder/decoder are empty at the innermost level."""

    level: int
    encoder: tuple[LayerGroup, ...]
    main: tuple[LayerGroup, ...]  # only at the innermost level; empty for chunking stages
    decoder: tuple[LayerGroup, ...]
    is_innermost: bool
    encoder_text: str | None = None  # the strings as written, for reports
    main_text: str | None = None
    decoder_text: str | None = None


def parse_layout_string(text: Any) -> tuple[LayerGroup, ...]:
    """"T1m4" -> (LayerGroup("T", 1), LayerGroup("m", 4)); ValueError when malformed."""
    if not isinstance(text, str) or not LAYOUT_STRING.fullmatch(text):
        raise ValueError(
            f"arch_layout entry {repr(text)[:200] if isinstance(text, str) else show_value(text)} is not a layer string like 'm4' or 'T1m4' "
            "(letters m, M, t, T each followed by a layer count)"
        )
    return tuple(LayerGroup(kind, int(n)) for kind, n in LAYER_GROUP.findall(text))


def parse_arch_layout(layout: Any) -> tuple[LevelLayout, ...]:
    """Every hierarchy level of a nested `arch_layout`, outermost first.

    The number of chunking stages is `len(result) - 1`. Raises ValueError naming the
    offending part (`arch_layout[1]`...) when the layout is malformed.
    """
    levels: list[LevelLayout] = []
    node = layout
    while True:
        depth = len(levels)
        where = "arch_layout" + "[1]" * depth
        if depth >= MAX_LEVELS:
            raise ValueError(f"arch_layout is nested deeper than {MAX_LEVELS} levels")
        if not isinstance(node, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {_show(node)}")
        if len(node) == 1:
            levels.append(LevelLayout(depth, (), parse_layout_string(node[0]), (), True, main_text=node[0]))
            return tuple(levels)
        if len(node) != 3:
            raise ValueError(
                f"{where} must have 3 entries [encoder, main, decoder] or 1 entry [main], got {len(node)}"
            )
        encoder, inner, decoder = node
        levels.append(LevelLayout(depth, parse_layout_string(encoder), (), parse_layout_string(decoder), False,
                                  encoder_text=encoder, decoder_text=decoder))
        node = inner


def show_value(value: Any, limit: int = 200) -> str:
    """A value as it would look in the JSON file, for one-line error messages.

    Serialises at most `limit` characters' worth: iterating the encoder's chunks stops
    early, so a huge or deeply shared structure (a YAML alias bomb) is never expanded
    only to be cut afterwards.
    """
    out: list[str] = []
    size = 0
    try:
        for chunk in json.JSONEncoder(default=str, check_circular=False).iterencode(value):
            out.append(chunk)
            size += len(chunk)
            if size > limit:
                break
    except (RecursionError, ValueError, TypeError):
        out.append("...")
    return "".join(out)[:limit]


_show = show_value
