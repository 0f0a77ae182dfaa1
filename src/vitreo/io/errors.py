"""The one error type for bad user input: the command line prints it as one line."""

from __future__ import annotations

from os import PathLike


class InputError(Exception):
    """Bad input in a named file (and line, where there is one).

    ``str(err)`` is the single line shown to the user, e.g.
    ``particles.star, line 12: row has 5 values, expected 7``.
    """

    def __init__(self, path: str | PathLike[str] | None, problem: str, line: int | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.line = line
        where = self.path or ""
        if line is not None:
            where = f"{where}, line {line}" if where else f"line {line}"
        super().__init__(f"{where}: {problem}" if where else problem)

    def __reduce__(self) -> tuple[type[InputError], tuple[str | None, str, int | None]]:
        """Pickled with its own arguments, so that it crosses process boundaries (worker pools, Dask)."""
        return (type(self), (self.path, self.problem, self.line))
