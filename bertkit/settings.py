"""Every setting declared once: `setting(default, check=..., help=..., panel=...)` on a settings dataclass.

A field made with `setting` carries its default, its check (type, range, choices) and, for a command-line option,
its help text and help panel. Everything else is derived from that one declaration:

- the checks: `Checked.__post_init__` converts and checks every field (a recipe, the command line and Python alike);
- the recipe validation: `defaults.build_config` accepts exactly the fields of the class;
- the Typer options of every training command: `bertkit.cli.options.train_command` builds them from the fields;
- the inference options' checks: `check_options(cls, name=value, ...)` looks the check up on the class.

A help text may hold `{default}`, replaced with "[default: …]" of the class's own default (a task class that
overrides a field's default, e.g. qa's `max_length`, shows its own).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar

from bertkit.errors import UsageError


@dataclass(frozen=True)
class Check:
    """The type and range of one setting. `words`: strings accepted besides the type (e.g. "auto")."""

    kind: str  # int | float | bool | str
    lo: float | None = None
    lo_open: bool = False  # lo itself is not allowed
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False  # None is allowed (and means: the default behaviour)
    words: tuple[str, ...] = ()
    hint: str = ""  # what to do, appended to the error

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        what = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a text"}[self.kind]
        if self.lo is not None and self.hi is not None:
            what += f" from {_num(self.lo)} to {_num(self.hi)}"
        elif self.lo is not None:
            what += f" {'above' if self.lo_open else 'of at least'} {_num(self.lo)}"
        return what + "".join(f" or {w!r}" for w in self.words)


@dataclass(frozen=True)
class Setting:
    """The declaration `setting` stores in a field's metadata."""

    check: Check
    help: str | None = None  # None: no command-line option (recipe and Python only)
    panel: str | None = None  # the --help panel; None: the default "Options" panel
    flags: tuple[str, ...] = ()  # the option's names; () : --field-name
    last: bool = False  # listed after the shared options of its panel (a task's own option)


def setting(default: Any, *, check: Check, help: str | None = None, panel: str | None = None,
            flags: tuple[str, ...] = (), last: bool = False) -> Any:
    """One setting: a dataclass field with its default, check and command-line option (see the module doc)."""
    return field(default=default, metadata={"setting": Setting(check, help, panel, flags, last)})


def new_default(base: type, name: str, default: Any) -> Any:
    """The declaration of `base`'s field `name` with another default (a task's own, e.g. qa's max_length 384)."""
    f = next(f for f in fields(base) if f.name == name)
    return field(default=default, metadata=f.metadata)


def declaration(f: Field) -> Setting:
    try:
        return f.metadata["setting"]
    except KeyError:
        raise TypeError(f"{f.name}: a settings field must be declared with bertkit.settings.setting(...)") from None


def declarations(cls: type) -> dict[str, Setting]:
    """name -> declaration of every field of a settings class, in field order."""
    return {f.name: declaration(f) for f in fields(cls)}


def field_default(cls: type, name: str) -> Any:
    f = next(f for f in fields(cls) if f.name == name)
    return None if f.default is MISSING else f.default


def help_text(cls: type, name: str) -> str | None:
    """The option's help with `{default}` filled in from this class's default."""
    text = declarations(cls)[name].help
    if text is None or "{default}" not in text:
        return text
    v = field_default(cls, name)
    return text.replace("{default}", f"\\[default: {v:g}]" if isinstance(v, float) else f"\\[default: {v}]")


def _num(x: Any) -> str:
    return str(int(x)) if isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer() else repr(x)


class SettingError(UsageError):
    """A setting outside its declared type or range; `build_config` names where it came from."""

    def __init__(self, name: str, reason: str, where: str | None = None):
        self.name, self.reason = name, reason
        super().__init__(f"{where or option_name(name)} {reason}")


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bad(name: str, check: Check, value: Any) -> SettingError:
    hint = f"; {check.hint}" if check.hint else ""
    return SettingError(name, f"must be {check.describe()}, not {_num(value)}{hint}")


def _check_str(name: str, check: Check, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not check.choices:
        value = str(value)  # `text_col: 1` in a recipe
    if (not isinstance(value, str) or (check.choices and value not in check.choices)
            or (not check.choices and value == "")):
        raise _bad(name, check, value)
    return value


def _check_number(name: str, check: Check, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(name, check, value)
    if check.kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise _bad(name, check, value)
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise _bad(name, check, value)
    if check.lo is not None and (value < check.lo or (check.lo_open and value == check.lo)):
        raise _bad(name, check, value)
    if check.hi is not None and value > check.hi:
        raise _bad(name, check, value)
    return value


def check_value(name: str, check: Check, value: Any) -> Any:
    """The value, converted (int → float for numbers, "8" → 8 for int-or-word settings), or a SettingError."""
    if value is None:
        if check.optional:
            return None
        raise _bad(name, check, value)
    if isinstance(value, str) and check.kind != "str":
        if value in check.words:
            return value
        if check.words and check.kind == "int" and value.strip().lstrip("-").isdigit():
            value = int(value)
    if check.kind == "bool":
        if not isinstance(value, bool):
            raise _bad(name, check, value)
        return value
    if check.kind == "str":
        return _check_str(name, check, value)
    return _check_number(name, check, value)


def check_options(*classes: type, **values: Any) -> dict[str, Any]:
    """Check inference options by name against the declarations of `classes` (the first that has the name);
    returns the converted values, a value not given (None) as its declared default."""
    found: dict[str, tuple[type, Check]] = {}
    for cls in reversed(classes):
        found.update({k: (cls, s.check) for k, s in declarations(cls).items()})
    return {k: check_value(k, found[k][1], field_default(found[k][0], k) if v is None else v)
            for k, v in values.items()}


class Checked:
    """`__post_init__` for settings dataclasses: every field converted and checked against its declaration."""

    TASK: ClassVar[str | None] = None  # the command a recipe of this class is for (`task:` key)
    ALIASES: ClassVar[dict[str, str]] = {}  # former names still read from recipes

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, check_value(f.name, declaration(f).check, getattr(self, f.name)))
        self.check_together()

    def check_together(self) -> None:
        """Rules between fields (each class may add its own)."""
