"""The builders' options, declared once: name, default, accepted type and valid values (`Option`), and one check
(`resolve`) that both `build_detector` and `build_mask_proposer` run before building anything.

An unknown option is a TypeError listing the valid ones; a value of the wrong type a TypeError, and a value out of
range a ValueError, each naming the option and its valid values. Old names in stored configs (checkpoints, run
configs) are read through `upgrade_config`, so that files written before a rename still load.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional


@dataclass(frozen=True)
class Option:
    """One builder option. types: the accepted Python types (bool is never an int here); valid: the valid values in
    words, for the error; check: True for a value in range (called only on a value of the right type); nullable: None
    is accepted too (the builder derives the value)."""

    default: Any
    types: tuple[type, ...]
    valid: str
    check: Callable[[Any], bool] = lambda value: True
    nullable: bool = False

    def validate(self, name: str, value: Any, builder: str) -> None:
        """TypeError / ValueError naming `name` and the valid values unless `value` is one of them."""
        if value is None and self.nullable:
            return
        is_type = isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)
        if not is_type:
            raise TypeError(f"{builder}: option {name} must be {self.valid}, got {value!r} "
                            f"({type(value).__name__})")
        if not self.check(value):
            raise ValueError(f"{builder}: option {name} must be {self.valid}, got {value!r}")


def integer(default: Optional[int], low: int = 1, high: Optional[int] = None, nullable: bool = False) -> Option:
    """An int in [low, high] (high None: unbounded)."""
    words = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    return Option(default, (int,), words + (" or None" if nullable else ""),
                  lambda v: v >= low and (high is None or v <= high), nullable)


def number(default: Optional[float], low: float = -math.inf, high: float = math.inf, open_low: bool = False,
           open_high: bool = False, nullable: bool = False) -> Option:
    """A real number in the interval low..high; open_low / open_high exclude the end."""
    words = f"a number in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    return Option(default, (int, float), words + (" or None" if nullable else ""),
                  lambda v: (v > low if open_low else v >= low) and (v < high if open_high else v <= high), nullable)


def choice(default: Optional[str], values: tuple[str, ...], nullable: bool = False) -> Option:
    """One of the strings `values`."""
    words = "one of " + ", ".join(repr(v) for v in values) + (" or None" if nullable else "")
    return Option(default, (str,), words, lambda v: v in values, nullable)


def flag(default: bool) -> Option:
    """True or False."""
    return Option(default, (bool,), "True or False")


def sequence(default: Any, of: str, check: Callable[[Any], bool] = lambda v: True, nullable: bool = False) -> Option:
    """A list / tuple; `of` says of what (for the error)."""
    return Option(default, (list, tuple), f"a list of {of}" + (" or None" if nullable else ""), check, nullable)


def mapping(default: Any, of: str, nullable: bool = False) -> Option:
    """A dict; `of` says of what (for the error)."""
    return Option(default, (dict,), f"a dict of {of}" + (" or None" if nullable else ""), nullable=nullable)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def min_sizes(default: int) -> Option:
    """The transform's shorter side: one positive int, or a non-empty list of them (training picks one per batch)."""
    return Option(default, (int, list, tuple), "a positive integer or a non-empty list of them",
                  lambda v: _is_count(v) if isinstance(v, int) else bool(v) and all(_is_count(s) for s in v))


def numbers(default: Any, count: Optional[int] = None, positive: bool = False) -> Option:
    """A list of numbers (`count` of them, or any non-empty number; `positive`: each > 0)."""
    words = f"{count if count is not None else 'one or more'} {'positive ' if positive else ''}numbers"
    return sequence(default, words, lambda v: (len(v) == count if count is not None else bool(v))
                    and all(_is_number(x) and (x > 0 or not positive) for x in v))


def resolve(spec: Mapping[str, Option], options: Mapping[str, Any], builder: str) -> dict[str, Any]:
    """The options with every default filled in, after checking each given one against `spec`."""
    unknown = set(options) - set(spec)
    if unknown:
        raise TypeError(f"{builder}: unknown option(s) {sorted(unknown)}; valid options: {', '.join(sorted(spec))}")
    for name, value in options.items():
        spec[name].validate(name, value, builder)
    return {**{name: o.default for name, o in spec.items()}, **options}


#: Renamed options: task -> {old key: (new key, {old value: new value})}.
RENAMED: dict[str, dict[str, tuple[str, dict[Any, Any]]]] = {
    "detection": {"anchor_strides": ("anchor_stride_rule", {"exact": "level", "torchvision": "padded_grid"})},
    "mask_proposals": {"d": ("pyramid_channels", {})},
}
RENAMED["rpn"] = RENAMED["detection"]


def upgrade_config(task: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config (a checkpoint's "model", a run's options) with the options' old names replaced by the
    current ones (e.g. anchor_strides="exact" -> anchor_stride_rule="level"); a config in current names is returned
    as it is (copied). Giving both an old and a new name is an error."""
    out = dict(config)
    for old, (new, values) in RENAMED.get(task, {}).items():
        if old not in out:
            continue
        if new in out:
            raise TypeError(f"option {old} is the old name of {new}: give only {new}")
        value = out.pop(old)
        out[new] = values.get(value, value) if isinstance(value, str) else value
    return out
