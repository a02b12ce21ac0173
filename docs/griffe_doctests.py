"""Griffe extension: show edalab's bare doctests as code on the API pages.

edalab's docstrings put runnable examples (``>>>``) straight in their text, as river's do,
and pytest runs them. The numpy docstring parser only makes code of an ``Examples`` section,
and Markdown reads ``>>>`` as a quote. This fences each bare example in the description as
``pycon`` code, and opens an ``Examples`` section for one that follows another section (so it
is not read as one more parameter). The docstrings themselves stay as they are.
"""

from __future__ import annotations

from typing import Any

import griffe

PROMPT = ">>>"


def _is_header(lines: list[str], i: int) -> bool:
    """Whether ``lines[i]`` is a numpy section title (a word line underlined with dashes)."""
    underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
    return bool(lines[i].strip()) and len(underline) >= 3 and set(underline) == {"-"}


def fence_doctests(text: str) -> str:
    """``text`` with its bare doctest blocks made Markdown code.

    >>> fence_doctests("Doubles.\\n\\n>>> 2 * 2\\n4\\n\\nMore.").splitlines()
    ['Doubles.', '', '```pycon', '>>> 2 * 2', '4', '```', '', 'More.']
    """
    lines = text.splitlines()
    out: list[str] = []
    section = None  # the title of the section the line is in; None in the description
    i = 0
    while i < len(lines):
        if _is_header(lines, i):
            section = lines[i].strip()
        if not lines[i].startswith(PROMPT) or section == "Examples":
            out.append(lines[i])
            i += 1
            continue
        end = i
        while end < len(lines) and lines[end].strip():
            end += 1
        if section is None:
            out += ["```pycon", *lines[i:end], "```"]
        else:
            section = "Examples"
            out += ["Examples", "--------", *lines[i:end]]
        i = end
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence the bare doctests of every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring and PROMPT in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
