"""Numbers read from a command line or from params.yaml, checked where they are read.

Every bound is one `Number`, usable two ways:

    ap.add_argument("--top-k", type=nonnegative_int)         # argparse: exit 2, "argument --top-k: expected
                                                              # an integer >= 0, got '-3'"
    nonnegative_int.check(section["top_k"], "params.yaml evaluate.top_k")   # ValueError naming the param

Text is parsed with `int()` / `float()`; NaN and the infinities are never accepted (not even where
the range is unbounded). A params value must already have the right type: YAML's `true` is not a
number, `16.0` is not an integer and `"16"` is not a number, so a typo never reaches the code that
would fail on it far from params.yaml. `check_numbers` checks a whole config against a table of them.

Also here: `key_value`, the `--set KEY=VALUE` type (VALUE read as YAML), and `ParamError`.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

SEED_MAX = 2**32 - 1  # numpy's legacy seeding and many others accept [0, 2**32)


class ParamError(ValueError):
    """A params.yaml (or `--set`) value outside its range; the message names the param."""


@dataclass(frozen=True)
class Number:
    """An integer or a finite float within [lo, hi] (either end open or absent). `note` is added to
    the range in messages (what a special value means, e.g. "0: off")."""

    kind: type = float
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    note: str = ""
    none_ok: bool = False

    @property
    def __name__(self) -> str:  # argparse names the type in a few of its own messages
        return self.describe()

    @property
    def or_none(self) -> "Number":
        """The same bound where params may also say null (`check` only; text is never None)."""
        return replace(self, none_ok=True)

    def describe(self) -> str:
        """'an integer >= 1', 'a number in [0, 1]', 'a number > 0 (0: off)'."""
        what = "an integer" if self.kind is int else "a number"
        lo, hi = _fmt(self.lo), _fmt(self.hi)
        if self.lo is not None and self.hi is not None:
            text = f"{what} in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            text = f"{what} {'>' if self.lo_open else '>='} {lo}"
        elif self.hi is not None:
            text = f"{what} {'<' if self.hi_open else '<='} {hi}"
        else:
            text = "an integer" if self.kind is int else "a finite number"
        if self.none_ok:
            text += " or null"
        return f"{text} ({self.note})" if self.note else text

    def within(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return True

    def __call__(self, text: str) -> int | float:
        """argparse `type=`: the value of `text`, or ArgumentTypeError ('expected …, got …')."""
        try:
            value = int(text) if self.kind is int else float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if not self.within(value):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}{_why(value)}")
        return value

    def check(self, value: Any, name: str) -> Any:
        """`value` (as YAML or a dataclass holds it) if it is in range; ParamError naming `name` otherwise."""
        if value is None and self.none_ok:
            return value
        numeric = isinstance(value, int) if self.kind is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not numeric or not self.within(value):
            raise ParamError(f"{name}: expected {self.describe()}, got {value!r}{_why(value)}")
        return value


def _why(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return " (NaN and infinities are refused)"
    if isinstance(value, str) and _as_float(value) is not None:  # "3", or 1e5 (YAML 1.1 reads it as text)
        return " (YAML read it as text: no quotes, and write 1e5 as 1.0e+5 or 100000)"
    return ""


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def float_in(lo: float | None, hi: float | None, *, lo_open: bool = False, hi_open: bool = False,
             note: str = "") -> Number:
    """A finite float in [lo, hi] (`lo_open`/`hi_open`: that end excluded; None: unbounded)."""
    return Number(float, lo, hi, lo_open, hi_open, note)


def int_in(lo: int | None, hi: int | None, *, note: str = "") -> Number:
    """An integer in [lo, hi] (None: unbounded)."""
    return Number(int, lo, hi, note=note)


def word_or(word: str, number: Number):
    """argparse `type=` taking `word` (e.g. "auto") or a number within `number`'s range."""

    def parse(text: str) -> str | int | float:
        if text.strip() == word:
            return word
        try:
            return number(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected {word} or {number.describe()}, got {text!r}"
                                             f"{_why(_as_float(text))}") from None

    parse.__name__ = f"{word} or {number.describe()}"
    return parse


def _as_float(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return None


positive_int = int_in(1, None)
nonnegative_int = int_in(0, None)
positive_float = float_in(0, None, lo_open=True)
nonnegative_float = float_in(0, None)
finite_float = float_in(None, None)
probability = float_in(0, 1)       # also any fraction of a whole (reject fractions, speech shares)
seed = int_in(0, SEED_MAX)


def check_numbers(values: Mapping[str, Any] | Any, table: Mapping[str, Number], where: str) -> None:
    """Check every `table` key of `values` (a mapping or an object with those attributes); the first
    bad one raises ParamError naming `where.key`. Dotted keys reach into nested objects/mappings;
    a list or tuple value has each item checked (named `where.key[i]`)."""
    for key, number in table.items():
        value = _get(values, key)
        name = f"{where}.{key}"
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                number.check(item, f"{name}[{i}]")
        else:
            number.check(value, name)


def number_list(value: Any, name: str, length: int | None = None, kind: type = float) -> tuple:
    """A YAML list of numbers as a tuple (`length` items when given); ParamError naming `name` for
    anything else (a bare number, text, a list of the wrong length or with non-numbers)."""
    size = f"{length} " if length else ""
    what = f"a list of {size}{'integers' if kind is int else 'numbers'}"
    if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
        raise ParamError(f"{name}: expected {what}, got {value!r}")
    number = int_in(None, None) if kind is int else finite_float
    for i, item in enumerate(value):
        try:
            number.check(item, name)
        except ParamError:
            raise ParamError(f"{name}: expected {what}, got {value!r} (item {i}: {item!r})") from None
    return tuple(kind(v) for v in value)


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, Mapping) else getattr(obj, part)
    return obj


def key_value(text: str) -> tuple[str, Any]:
    """argparse `type=` for `--set KEY=VALUE`: (KEY, VALUE read as YAML: 3 → int, 0.5 → float,
    [1, 2] → list, null → None, text → str)."""
    import yaml

    key, eq, value = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. max_steps=100), got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise argparse.ArgumentTypeError(f"{key}: the value {value!r} is not YAML ({first})") from None


def with_overrides(section: Mapping[str, Any], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of a params section with `--set` pairs applied (dotted keys reach nested mappings)."""
    import copy

    out = copy.deepcopy(dict(section))
    for key, value in pairs:
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, Mapping) else {}
            node = child
        node[parts[-1]] = value
    return out


def config_or_exit(parser: argparse.ArgumentParser, build, section: Mapping[str, Any],
                   pairs: list[tuple[str, Any]], params_file: str) -> Any:
    """`build(section with the --set pairs)`, the typed config. A bad value is a one-line error: an
    argparse error (exit 2) when a `--set` pair made it bad, else `PROG: PARAMS_FILE: message`
    (exit 1) when params.yaml itself is bad."""
    try:
        return build(with_overrides(section, pairs))
    except (TypeError, ValueError) as err:
        from_set = _first_line(err)
    if pairs:
        try:
            build(dict(section))
        except (TypeError, ValueError) as err:
            raise SystemExit(f"{parser.prog}: {params_file}: {_first_line(err)}") from None
        parser.error(f"argument --set: {from_set}")
    raise SystemExit(f"{parser.prog}: {params_file}: {from_set}")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
