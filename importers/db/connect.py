"""Database URLs: which database (explicit, environment, embedded default), engines, and redaction.

PostgreSQL (``postgresql://user:password@host/db``, through psycopg2) is what production and the
tests use; the embedded default is a SQLite file in the local workspace for the quick start. A
password never leaves this module in clear: every URL and error text shown to a user goes through
:func:`redact_url` or :func:`redact_text`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from sqlalchemy.engine import make_url

#: The embedded default: a SQLite file in the workspace folder of the working directory (the quick start's,
#: run from the checkout, beside its bucket), never inside the installation. Relative: resolved when used.
EMBEDDED_DATABASE = Path(".local") / "cryoet.sqlite"
#: A URL in the environment keeps the password off command lines; set but empty means "no database".
URL_VARIABLE = "CRYOET_DATABASE_URL"
MASK = "***"

_SCHEMES = {"postgresql": "postgresql+psycopg2", "postgres": "postgresql+psycopg2", "sqlite": "sqlite"}
_PASSWORD_IN_URL = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?P<tail>@)", re.I)
_PASSWORD_PARAMETER = re.compile(r"(?P<head>\bpassword=)(?P<password>[^&\s'\"]*)", re.I)


class DatabaseError(Exception):
    """A database problem, with any password already masked in the message."""


def embedded_path() -> Path:
    """The embedded database's file, from the working directory now."""
    return EMBEDDED_DATABASE.resolve()


def embedded_url() -> str:
    return f"sqlite:///{embedded_path()}"


def resolve_url(explicit: str | None, *, embedded_must_exist: bool) -> str | None:
    """The database to use: ``explicit``, else ``$CRYOET_DATABASE_URL``, else the embedded default.

    An empty ``explicit`` (``--db-url ''``), like an empty variable, means no database. The importer
    creates the embedded file (``embedded_must_exist=False``); the validation suite only uses it when an
    import made it. None means no database.
    """
    if explicit is not None:
        return explicit or None
    if URL_VARIABLE in os.environ:
        return os.environ[URL_VARIABLE] or None
    if embedded_must_exist and not embedded_path().is_file():
        return None
    return embedded_url()


def _passwords(url: str) -> list[str]:
    """Every password in ``url``, as written, decoded and encoded (an error text may quote any form)."""
    found = [match.group("password") for match in _PASSWORD_IN_URL.finditer(url)]
    found += [match.group("password") for match in _PASSWORD_PARAMETER.finditer(url)]
    with contextlib.suppress(sa.exc.ArgumentError, ValueError):
        found.append(make_url(url).password or "")
    forms = {form for password in found if password for form in (password, unquote(password), quote(password, safe=""))}
    return sorted(forms, key=len, reverse=True)


def redact_url(url: str) -> str:
    """``postgresql://user:***@host/db``: the URL as it may be shown."""
    masked = _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", url)
    return _PASSWORD_PARAMETER.sub(lambda m: f"{m['head']}{MASK}", masked)


def redact_text(text: str, url: str) -> str:
    """Any text (an error message) with ``url``'s password masked, wherever and however it appears."""
    for password in _passwords(url):
        text = text.replace(password, MASK)
    return redact_url(text)


def describe_error(error: BaseException, url: str) -> str:
    """One line for a database error: the driver's own message (not SQLAlchemy's SQL dump), masked."""
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    text = "; ".join(lines[:2]) if lines else type(original).__name__
    return redact_text(f"{type(original).__name__}: {text}", url)


def open_engine(url: str, *, read_only: bool = False) -> sa.Engine:
    """An engine for a ``postgresql://`` or ``sqlite:///path`` URL. A SQLite file's folder is created,
    unless ``read_only`` (the validation suite), which opens an existing file read-only or fails."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise DatabaseError(f"not a database URL: {redact_url(url)}") from None
    backend = parsed.get_backend_name()
    if backend not in _SCHEMES:
        raise DatabaseError(f"{redact_url(url)}: unsupported database (use postgresql://… or sqlite:///path)")
    parsed = parsed.set(drivername=_SCHEMES[backend])
    options: dict[str, Any] = {}
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database).expanduser().resolve()
        if read_only:
            location = f"{path.as_uri()}?mode=ro"
            # The pool hands a connection to one thread at a time, not always the thread that opened it
            # (the suite probes the database before its checks run on worker threads).
            options["creator"] = lambda: sqlite3.connect(location, uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
    elif backend != "sqlite" and "connect_timeout" not in parsed.query:
        # Fail fast on an unreachable server instead of waiting for the OS timeout.
        options["connect_args"] = {"connect_timeout": 10}
    engine = sa.create_engine(parsed, **options)
    if backend == "sqlite":
        # SQLite enforces foreign keys (and so the cascades the schema declares) only when asked to.
        sa.event.listen(engine, "connect", lambda connection, _: connection.execute("PRAGMA foreign_keys=ON"))
    return engine
