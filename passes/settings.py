"""Conversion settings, declared once: on the passes' own options.

A pass's options are a dataclass (xDSL's pass options); a field that users set from the
command line or `snnc.compile` carries `setting(...)` metadata: its setting's name (two passes
may share one, as lower-pooling and substitute-neurons share the neuron model), a help text,
its choices. `settings()` collects them in pipeline order, and everything else is derived from
that table: the CLI's options (snnc/cli.py), the program's stored Settings and compile()'s
keyword arguments (snnc/program.py), and each pass's options in the pipeline
(passes/pipeline.py). A default of None means "the neuron model's default" (snnc/models).

`--passes` takes pass specs, `name` or `name{key=value,...}`, whose values override the
settings for that pass alone (as xDSL's pass pipelines do).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass

from snnc.errors import UsageError


class _ModelDefault:
    def __repr__(self) -> str:
        return "the neuron model's"


MODEL_DEFAULT = _ModelDefault()  # a setting's default that the neuron model chooses (snnc/models)


def setting(name: str, help: str, choices: tuple | None = None, metavar: str | None = None,
            model_default: bool = False, flag: str | None = None) -> dict:  # fmt: skip
    """Field metadata that makes a pass option a conversion setting (`model_default`: unset, the
    neuron model chooses its value; `flag`: the command line's name, if not the setting's)."""
    return {"setting": name, "help": help, "choices": choices, "metavar": metavar, "model_default": model_default,
            "flag": flag}  # fmt: skip


@dataclass(frozen=True)
class Setting:
    name: str
    type: type  # bool, int, float, str or dict
    default: object
    help: str
    choices: tuple | None
    metavar: str | None
    flag: str | None  # the command line's name (default: the setting's)
    fields: tuple[tuple[str, str], ...]  # (pass, option field) it sets


def settings() -> dict[str, Setting]:
    """Every conversion setting, in pipeline order, from the registered passes' options."""
    from snnc.passes.base import PASSES
    from snnc.passes.pipeline import DEFAULT_PASSES

    found: dict[str, Setting] = {}
    for name in (*DEFAULT_PASSES, *sorted(set(PASSES) - set(DEFAULT_PASSES))):
        options = PASSES[name].Options
        hints = typing.get_type_hints(options)
        for f in dataclasses.fields(options):
            meta = f.metadata
            if "setting" not in meta:
                continue
            key = meta["setting"]
            if key in found:  # a setting several passes read: one declaration carries its help
                found[key] = dataclasses.replace(found[key], fields=(*found[key].fields, (name, f.name)))
                continue
            default = MODEL_DEFAULT if meta.get("model_default") else f.default
            found[key] = Setting(key, _base_type(hints[f.name]), default, meta["help"], meta["choices"],
                                 meta["metavar"], meta["flag"], ((name, f.name),))  # fmt: skip
    return found


def resolve(values: dict) -> dict:
    """Every setting's value: as given, else its default (the neuron model's where it chooses,
    by the same name: snnc/models). Unknown names are a UsageError."""
    from snnc import models

    table = settings()
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise UsageError(f"unknown setting(s) {unknown}; the settings are {', '.join(table)}")
    neuron = values.get("neuron") or table["neuron"].default
    check_value(table["neuron"], neuron)
    resolved = {}
    for name, item in table.items():
        value = values.get(name)
        if value is None:
            value = getattr(models.model(neuron), name) if item.default is MODEL_DEFAULT else item.default
        check_value(item, value)
        resolved[name] = value
    return resolved


def _base_type(hint) -> type:
    """bool, int, float, str or dict from a field's annotation (X | None counts as X)."""
    for candidate in typing.get_args(hint) or (hint,):
        origin = typing.get_origin(candidate) or candidate
        if origin in (bool, int, float, str, dict):
            return origin
    raise TypeError(f"a setting's type must be bool, int, float, str or dict, not {hint}")


def check_value(item: Setting, value) -> None:
    """A UsageError unless `value` has the setting's type (None: the default) and is a choice."""
    if value is None:
        return
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,), dict: (dict,)}[item.type]
    if isinstance(value, bool) and item.type is not bool or not isinstance(value, kinds):
        raise UsageError(f"setting {item.name!r} must be a {item.type.__name__}, got {value!r}")
    if item.type is float and not math.isfinite(value):
        raise UsageError(f"setting {item.name!r} must be finite, got {value!r}")
    if item.choices is not None and value not in item.choices:
        raise UsageError(f"setting {item.name!r} must be one of {', '.join(item.choices)}, got {value!r}")


# -- pass specs --------------------------------------------------------------------------------------
SPEC = re.compile(r"\s*([\w-]+)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def parse_pass_specs(text: str) -> list[tuple[str, dict]]:
    """`a,b{k=v,k2=v2},c` → [("a", {}), ("b", {"k": v, "k2": v2}), ("c", {})], values typed by
    the pass's option fields."""
    from snnc.passes.base import PASSES

    specs, position = [], 0
    while position < len(text):
        match = SPEC.match(text, position)
        if not match or match.end() == position:
            raise UsageError(f"--passes: cannot read {text[position:]!r}; expected name or name{{key=value,...}}")
        name, body = match.group(1), match.group(2)
        if name not in PASSES:
            raise UsageError(f"unknown pass {name!r}; known: {', '.join(PASSES)}")
        specs.append((name, _parse_options(PASSES[name].Options, body or "", name)))
        position = match.end()
    return specs


def pass_specs(passes) -> list[tuple[str, dict]]:
    """Pass specs from a text (`a,b{k=v}`) or a sequence of such texts."""
    texts = [passes] if isinstance(passes, str) else list(passes)
    return [spec for text in texts for spec in parse_pass_specs(text)]


def format_spec(spec: tuple[str, dict]) -> str:
    """The text of a pass spec (parse_pass_specs reads it back)."""
    name, options = spec
    if not options:
        return name
    values = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items())
    return f"{name}{{{values}}}"


def _parse_options(options, body: str, pass_name: str) -> dict:
    hints = typing.get_type_hints(options)
    names = {f.name for f in dataclasses.fields(options)}
    values = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, _, raw = item.partition("=")
        key = key.strip()
        if key not in names:
            raise UsageError(f"pass {pass_name!r} has no option {key!r}; it has {', '.join(sorted(names)) or 'none'}")
        values[key] = parse_value(_base_type(hints[key]), raw.strip(), f"{pass_name}{{{item}}}")
    return values


def parse_value(kind: type, raw: str, where: str):
    """A command-line string as a bool, int, float or str."""
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if kind is dict:
            raise ValueError("a table cannot be given in a pass spec")
        return kind(raw)
    except ValueError:
        raise UsageError(f"{where}: expected a {kind.__name__} value") from None
