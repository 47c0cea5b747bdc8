"""Help text as typer shows it: each paragraph of a docstring rewrapped once, by rich.

Typer keeps the line breaks of a command's docstring, and rich then wraps those lines again to
the terminal, so a docstring wrapped at 96 columns came out ragged in an 80-column terminal.
:func:`unwrap_help` joins the lines of each paragraph (blank lines still separate paragraphs;
paragraphs with indented or bulleted lines are kept as written) for every registered command.
"""

from __future__ import annotations

import inspect

import typer


def unwrap(text: str) -> str:
    """``text`` with the single line breaks inside each paragraph turned into spaces."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.splitlines()
        if any(ln.startswith((" ", "-", "*", "•")) for ln in lines[1:]):
            out.append(para)
        else:
            out.append(" ".join(ln.strip() for ln in lines))
    return "\n\n".join(out)


def unwrap_help(app: typer.Typer) -> None:
    """Set every command's help (and every group's) to its unwrapped docstring or help."""
    for info in app.registered_commands:
        text = info.help or (info.callback.__doc__ if info.callback else None)
        if text:
            info.help = unwrap(text)
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub.info.help:
            sub.info.help = unwrap(sub.info.help)
        unwrap_help(sub)
