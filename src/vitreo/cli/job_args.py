"""Job parameters on the command line: ``--name value`` pairs, RELION variable names.

``--name=value`` works too, and a bare ``--name`` (followed by another option or
nothing) means ``Yes``. ``vitreo run TYPE --help`` lists a job type's parameters.
"""

from __future__ import annotations

import textwrap

from vitreo.jobs.spec import JobSpec

JOB_ARGS_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def parse_job_args(args: list[str]) -> dict[str, str]:
    """``["--angpix", "0.885", "--do_raw"]`` -> ``{"angpix": "0.885", "do_raw": "Yes"}``."""
    values: dict[str, str] = {}
    index = 0
    while index < len(args):
        word = args[index]
        if not word.startswith("--") or len(word) < 3:
            raise ValueError(f"expected --name value, found {word!r}")
        name, has_value, value = word[2:].partition("=")
        if not has_value:
            following = args[index + 1] if index + 1 < len(args) else None
            if following is None or (following.startswith("--") and len(following) > 2):
                value = "Yes"
            else:
                value = following
                index += 1
        values[name] = value
        index += 1
    return values


def options_help(spec: JobSpec) -> str:
    """The parameters of a job type, grouped by GUI tab, for ``--help``."""
    lines = [f"{spec.title} ({spec.type_label}): {spec.summary}".rstrip(": "), ""]
    tabs: dict[str, list[str]] = {}
    for option in spec.options:
        default = option.default_text()
        head = f"  --{option.name} {default!r}" if default else f"  --{option.name} ''"
        choices = f" Choices: {'; '.join(option.choices)}." if option.choices else ""
        body = textwrap.fill(f"{option.label} {option.help}{choices}", width=88, initial_indent="      ",
                             subsequent_indent="      ")
        tabs.setdefault(option.tab, []).extend([head, body])
    for tab, entries in tabs.items():
        lines += [f"[{tab}]", *entries, ""]
    return "\n".join(lines)


__all__ = ["JOB_ARGS_CONTEXT", "parse_job_args", "options_help"]
