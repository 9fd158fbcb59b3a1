"""The config's regular expressions (``match_regex``, ``name_regex``, ``exclude``, ``parent_filters``,
``--filter-*-name``), matched by RE2 in time linear in the text.

Python's ``re`` backtracks: ``match_regex: (a+)+$`` on one long path that almost matches runs for
hours, and it did hang ``standardize`` and the source checks. RE2 never backtracks, so no pattern can
hang an ingestion; it has no backreferences and no lookaround (a pattern using them is an error that
says so, as an invalid pattern is). :func:`backtracking_risk` finds the nested quantifiers that make
Python's ``re`` (which the portal's own importer uses) go exponential, for ``validate-config`` to flag.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from functools import cache
from typing import Any

import re2


class PatternError(ValueError):
    """A pattern that does not compile (with the reason), or uses what linear-time matching lacks."""


@cache
def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the error is raised (and reported) here, not printed by the library
    return options


@cache
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled for linear-time matching; raises :class:`PatternError` with Python's reason
    for a pattern that is not valid at all, RE2's for one that needs backtracking features."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise PatternError(f"{pattern!r}: {error}") from None
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise PatternError(
            f"{pattern!r}: {reason} (matched in linear time by RE2: no backreferences or lookaround)"
        ) from None


def search(pattern: str, text: str) -> Any:
    """A match of ``pattern`` anywhere in ``text`` (``re.search``), or None."""
    return compile_pattern(pattern).search(text)


def match(pattern: str, text: str) -> Any:
    """A match of ``pattern`` at the start of ``text`` (``re.match``), or None."""
    return compile_pattern(pattern).match(text)


# -- what Python's re would do with it -------------------------------------------------------------

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_CATEGORIES = {
    sre.CATEGORY_DIGIT: str.isdigit,
    sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


def _class_matches(items: list[tuple[Any, Any]], char: str) -> bool:
    negate, found = False, False
    for op, value in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            found |= ord(char) == value
        elif op is sre.RANGE:
            found |= value[0] <= ord(char) <= value[1]
        elif op is sre.CATEGORY:
            found |= _CATEGORIES.get(value, lambda c: True)(char)
        else:
            found = True  # anything rarer: assume it may match
    return found != negate


def _can_consume(nodes: Any, char: str) -> bool:
    """Whether some part of ``nodes`` can match the character ``char``."""
    for op, value in nodes:
        if op is sre.LITERAL and ord(char) == value:
            return True
        if op is sre.NOT_LITERAL and ord(char) != value:
            return True
        if op is sre.ANY and char != "\n":
            return True
        if op is sre.IN and _class_matches(value, char):
            return True
        if op in _REPEATS and _can_consume(value[2], char):
            return True
        if op is sre.SUBPATTERN and _can_consume(value[3], char):
            return True
        if op is sre.BRANCH and any(_can_consume(branch, char) for branch in value[1]):
            return True
    return False


def _guarded(inner: Any, following: list[tuple[Any, Any]]) -> bool:
    """Whether an unbounded repeat is followed, within its enclosing repeat, by a character it cannot
    match (``(\\d+_)*``): then each character has one way to be matched and nothing backtracks."""
    for op, value in following:
        if op is sre.LITERAL:
            return not _can_consume(inner, chr(value))
        if op in _REPEATS and value[0] == 0:
            continue  # optional: it does not separate anything
        return False
    return False


def _nested(nodes: Any, inside_repeat: bool) -> str | None:
    items = list(nodes)
    for index, (op, value) in enumerate(items):
        if op in _REPEATS:
            _, high, body = value
            if inside_repeat and high == sre.MAXREPEAT and not _guarded(body, items[index + 1 :]):
                return "a quantifier inside a repeated group"
            if (found := _nested(body, inside_repeat or high > 1)) is not None:
                return found
        elif op is sre.SUBPATTERN and (found := _nested(value[3], inside_repeat)) is not None:
            return found
        elif op is sre.BRANCH:
            for branch in value[1]:
                if (found := _nested(branch, inside_repeat)) is not None:
                    return found
    return None


@cache
def backtracking_risk(pattern: str) -> str | None:
    """Why Python's ``re`` may take exponential time on ``pattern``, or None: an unbounded quantifier
    nested in a repeated group (``(a+)+``, ``(\\w+\\s?)*``, ``(.*a){20}``) unless a character it cannot
    match follows it in the group (``(\\d+_)*``). A heuristic: overlapping alternatives (``(a|aa)*``) are
    not found, and a separator outside the inner group is not seen."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None  # not a Python pattern at all: compile_pattern says why
    return _nested(parsed, inside_repeat=False)
