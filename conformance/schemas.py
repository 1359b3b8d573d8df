"""JSON Schema validation of what a server sends, and of the JSON report.

The schemas themselves live in the repository's top-level ``schemas/`` folder
and ship as package data.  Each is compiled into a Draft 2020-12 validator once
per process.  :func:`validate` turns the raw errors into a few short
:class:`SchemaProblem` lines a person can act on::

    $.created: expected type integer, got "123"
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import STRONG_MATCHES, WEAK_MATCHES, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "KINDS",
    "MAX_PROBLEMS",
    "SchemaProblem",
    "schema",
    "validate",
    "validator",
]

#: What :func:`validate` can check, each backed by ``schemas/<kind>.schema.json``.
KINDS: Final = (
    "chat-completion-chunk",
    "chat-completion",
    "error",
    "models",
    "report",
    "transcript",
    "responses-event",
    "responses-response",
    "messages-events",
    "messages-message",
    "messages-error",
    "ollama-chat",
)

#: How many problems :func:`validate` reports by default; the first few say enough.
MAX_PROBLEMS: Final = 5

#: Longest rendering of an offending value before it is cut.
_ACTUAL_LIMIT: Final = 120

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*\Z", re.ASCII)


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One way an instance breaks its schema.

    ``path`` is a JSON path into the instance (``$.choices[0].delta.role``),
    ``expected`` says what the schema wants there, ``actual`` is the value found
    (JSON, cut to about 120 characters) or ``missing``, and ``message`` is the
    one-line summary of all three.
    """

    path: str
    expected: str
    actual: str
    message: str


def _schema_dir() -> Traversable:
    """Where the schema files are.

    An installed wheel holds them as package data under ``conformance/schema_files/``.
    A source checkout, editable install included, keeps them in the top-level
    ``schemas/`` folder next to the package, which setuptools only relocates
    when it builds a wheel.
    """
    packaged = resources.files("conformance").joinpath("schema_files")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "schemas"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown schema kind {kind!r}; expected one of {', '.join(KINDS)}")


@functools.cache
def _load(kind: str) -> Mapping[str, Any]:
    text = _schema_dir().joinpath(f"{kind}.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    Draft202012Validator.check_schema(loaded)
    return loaded


def schema(kind: str) -> dict[str, Any]:
    """A copy of the schema for ``kind``, as parsed JSON."""
    _check_kind(kind)
    copied: dict[str, Any] = json.loads(json.dumps(_load(kind)))
    return copied


def _is_date_time(value: object) -> bool:
    """RFC 3339 ``date-time``: a date, ``T``, a time and an offset, all in range."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # ValueError when out of range
    return True


def _is_uri(value: object) -> bool:
    """An absolute URI: a scheme, a colon, and no whitespace."""
    return not isinstance(value, str) or _URI.match(value) is not None


@functools.cache
def _format_checker() -> FormatChecker:
    # Start from the draft's own checkers, then make date-time and uri real
    # checks: jsonschema only provides them when optional packages are present.
    checker = FormatChecker(formats=())
    checker.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    checker.checks("uri")(_is_uri)
    return checker


@functools.cache
def _registry() -> Registry[Any]:
    """Every schema by its ``$id``, so one schema can ``$ref`` another's ``$defs``
    (the Responses response object is defined once, for events and answers alike)."""
    schemas = [_load(kind) for kind in KINDS]
    return Registry().with_resources(
        (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012))
        for s in schemas
        if isinstance(s.get("$id"), str)
    )


@functools.cache
def validator(kind: str) -> Draft202012Validator:
    """The compiled validator for ``kind``: built on first use, then reused."""
    _check_kind(kind)
    return Draft202012Validator(_load(kind), format_checker=_format_checker(), registry=_registry())


def validate(kind: str, instance: object, *, limit: int = MAX_PROBLEMS) -> list[SchemaProblem]:
    """Check ``instance`` against the ``kind`` schema.

    Returns no problems when it is valid.  Otherwise returns at most ``limit``
    problems, most telling first: errors higher in the document come first,
    since they say more is wrong, and an ``anyOf``/``oneOf`` is followed down
    into the one branch the value was evidently meant to take.  One problem per
    location.  Raises ValueError for an unknown ``kind``.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    errors = validator(kind).iter_errors(instance)
    problems: list[SchemaProblem] = []
    seen: set[str] = set()
    for error in sorted(errors, key=_rank):
        for problem in (p for leaf in _leaves(error) for p in _problems(leaf)):
            if problem.path in seen:
                continue
            seen.add(problem.path)
            problems.append(problem)
            if len(problems) >= limit:
                return problems
    return problems


def _rank(error: ValidationError) -> tuple[int, bool, bool]:
    # Shallower first, then real constraints before anyOf/oneOf, then strong
    # keywords; sorting is stable, so ties keep the schema's own order.
    return (
        len(error.path),
        error.validator in WEAK_MATCHES,
        error.validator not in STRONG_MATCHES,
    )


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors that say what is wrong, following anyOf/oneOf down.

    Of an anyOf/oneOf's branches, those whose type does not even match the
    value are dropped.  If exactly one branch is left, the value was meant to
    take that form, so its own errors are the ones to report; otherwise the
    alternatives are reported together at the anyOf/oneOf itself.
    """
    if error.validator not in WEAK_MATCHES or not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(branch, []).append(sub)
    close = [
        subs
        for subs in branches.values()
        if not any(sub.validator == "type" and not sub.path for sub in subs)
    ]
    if len(close) != 1:
        return [error]
    return [leaf for sub in sorted(close[0], key=_rank) for leaf in _leaves(sub)]


def _problems(error: ValidationError) -> Iterator[SchemaProblem]:
    path = list(error.absolute_path)
    if error.validator == "required":
        instance = error.instance
        present = instance if isinstance(instance, Mapping) else {}
        wanted = error.validator_value if isinstance(error.validator_value, list) else []
        for name in wanted:
            if isinstance(name, str) and name not in present:
                yield _problem([*path, name], f"required property {_quote(name)}", "missing")
        return
    yield _problem(path, _expected(error), _render(error.instance))


def _problem(path: Sequence[str | int], expected: str, actual: str) -> SchemaProblem:
    where = _json_path(path)
    return SchemaProblem(where, expected, actual, f"{where}: expected {expected}, got {actual}")


def _json_path(path: Iterable[str | int]) -> str:
    """``$.choices[0].delta`` for the path ``["choices", 0, "delta"]``."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif _IDENTIFIER.match(step):
            parts.append(f".{step}")
        else:
            parts.append(f"[{json.dumps(step, ensure_ascii=False)}]")
    return "".join(parts)


#: Keywords whose expectation is one sentence with the schema's value in it.
_PLAIN_EXPECTATIONS: dict[str, str] = {
    "minimum": "a number >= {value}",
    "maximum": "a number <= {value}",
    "exclusiveMinimum": "a number > {value}",
    "exclusiveMaximum": "a number < {value}",
    "minLength": "at least {value} character{s}",
    "maxLength": "at most {value} character{s}",
    "minItems": "at least {value} item{s}",
    "maxItems": "at most {value} item{s}",
    "pattern": "a string matching {value}",
}


def _expected(error: ValidationError) -> str:
    keyword = error.validator
    value: Any = error.validator_value
    if keyword == "type":
        names = [value] if isinstance(value, str) else list(value)
        return "type " + " or ".join(str(name) for name in names)
    if keyword == "enum":
        return "one of " + ",".join(_quote(option) for option in value)
    if keyword == "const":
        return _quote(value)
    if keyword in ("anyOf", "oneOf"):
        return _alternatives(error)
    if keyword == "format":
        return f"format {value}"
    if keyword in _PLAIN_EXPECTATIONS:
        return _PLAIN_EXPECTATIONS[keyword].format(value=value, s="s" * (value != 1))
    return error.message


def _alternatives(error: ValidationError) -> str:
    """What an anyOf/oneOf wanted, when no single branch came closest."""
    here = [sub for sub in error.context if not sub.path]
    if here and all(sub.validator == "type" for sub in here):
        names: list[str] = []
        for sub in here:
            value: Any = sub.validator_value
            for name in [value] if isinstance(value, str) else value:
                if name not in names:
                    names.append(name)
        return "type " + " or ".join(names)
    texts: list[str] = []
    for sub in here:
        text = _expected(sub)
        if text not in texts:
            texts.append(text)
    if error.validator == "oneOf" and not error.context:
        return "exactly one of the allowed forms"
    return " or ".join(texts) if texts else "one of the allowed forms"


def _quote(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return json.dumps(value)


def _render(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    if len(text) > _ACTUAL_LIMIT:
        text = text[: _ACTUAL_LIMIT - 1] + "…"
    return text
