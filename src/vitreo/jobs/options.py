"""Job parameters: their declaration (``JobOption``) and their values (``Params``).

Values are kept in RELION's text form, exactly as job.star stores them: booleans are
``Yes``/``No``, numbers are decimal text, file names are relative to the project
directory. ``Params`` gives typed access; ``JobOption.normalise`` checks and canonicalises
text typed by a user (``true``/``1``/``yes`` -> ``Yes``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

#: RELION 5 writes JSE_DISABLED_PARALLEL (and kin) for options its site configuration disables.
DISABLED_MARKER = "JSE_DISABLED"
_TRUE = {"yes", "y", "true", "1", "on"}
_FALSE = {"no", "n", "false", "0", "off"}


class OptionKind(Enum):
    """How a parameter is entered (RELION's JOBOPTION_* types)."""

    TEXT = "text"  # any text
    FILE = "file"  # a file name or wildcard
    INPUT_NODE = "input_node"  # an output node of an earlier job
    BOOLEAN = "boolean"  # Yes / No
    RADIO = "radio"  # one of ``choices``
    NUMBER = "number"  # a slider in RELION's GUI: a number, optionally bounded


@dataclass(frozen=True)
class JobOption:
    """One parameter of a job type, with RELION's variable name (as in job.star).

    ``default`` is RELION text, or a function returning it (for defaults taken from
    environment variables such as ``RELION_QSUB_COMMAND`` when the job is created).
    ``node_type`` is the general node label an INPUT_NODE option accepts. Options with
    ``on_continue`` may be changed when a job is continued; others are fixed by the first run.
    """

    name: str
    label: str
    default: str | Callable[[], str]
    kind: OptionKind = OptionKind.TEXT
    tab: str = "I/O"
    help: str = ""
    choices: tuple[str, ...] = ()
    node_type: str = ""
    pattern: str = ""
    minimum: float | None = None
    maximum: float | None = None
    on_continue: bool = False

    def default_text(self) -> str:
        """The default value as RELION text."""
        return self.default() if callable(self.default) else self.default

    def normalise(self, value: str) -> str:
        """``value`` checked against the option's kind, in canonical RELION text; raises ValueError.
        RELION 5's marker of an option its site has disabled (JSE_DISABLED_...) reads as the default."""
        text = value.strip()
        if text.startswith(DISABLED_MARKER):
            text = self.default_text().strip()
        if self.kind is OptionKind.BOOLEAN:
            word = text.lower()
            if word in _TRUE:
                return "Yes"
            if word in _FALSE:
                return "No"
            raise ValueError(f"option {self.name} must be Yes or No, not {value!r}")
        if self.kind is OptionKind.RADIO and text not in self.choices:
            allowed = "; ".join(repr(choice) for choice in self.choices)
            raise ValueError(f"option {self.name} must be one of {allowed}, not {value!r}")
        if self.kind is OptionKind.NUMBER:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"option {self.name} must be a number, not {value!r}") from None
            if not math.isfinite(number):
                raise ValueError(f"option {self.name} must be a finite number, not {value!r}")
        return text


class Params(Mapping[str, str]):
    """A job's parameter values (RELION text), with typed getters."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"no job option {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def text(self, name: str) -> str:
        """The value as text, surrounding whitespace removed."""
        return self[name].strip()

    def flag(self, name: str) -> bool:
        """A Yes/No option as a bool."""
        word = self.text(name).lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"option {name} must be Yes or No, not {self[name]!r}")

    def number(self, name: str) -> float:
        """A numeric option as a float."""
        try:
            return float(self.text(name))
        except ValueError:
            raise ValueError(f"option {name} must be a number, not {self[name]!r}") from None

    def integer(self, name: str) -> int:
        """A numeric option as an int (``2.0`` is accepted, ``2.5`` is not)."""
        value = self.number(name)
        if value != int(value):
            raise ValueError(f"option {name} must be a whole number, not {self[name]!r}")
        return int(value)

    def updated(self, changes: Mapping[str, str]) -> Params:
        """A copy with some values replaced."""
        return Params({**self._values, **changes})

    def __repr__(self) -> str:
        return f"Params({self._values!r})"


NOT_AVAILABLE = "Not available in vitreo."


def unavailable_option(name: str, label: str, default: str, kind: OptionKind = OptionKind.TEXT,
                       tab: str = "I/O") -> JobOption:
    """A RELION option that vitreo does not implement: kept (help: :data:`NOT_AVAILABLE`) so that
    job.star files keep all of RELION's parameters; jobs refuse values that would need it."""
    return JobOption(name, label, default, kind, tab, NOT_AVAILABLE)


__all__ = ["OptionKind", "JobOption", "Params", "NOT_AVAILABLE", "unavailable_option"]
