"""`hitl-bridge backup PATH`: a consistent copy of the database, taken while the bridge runs.

Copying the file itself while the bridge writes can catch a transaction half-way, and
misses what still sits in its `-wal` file. SQLite's online backup copies one committed
state instead, pages and WAL alike, without stopping the bridge (it reads; the bridge's
writes go on). The copy is written next to PATH under a temporary name, checked, turned
into a single self-contained file, and only then linked as PATH: a PATH that exists is a
whole backup, and never one that was there before.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path


class BackupError(Exception):
    """One line for the operator: what went wrong and with which file."""


def backup(database: Path, to: Path) -> None:
    """Copy `database` to `to` (which must not exist yet)."""
    if to.exists():
        raise BackupError(f"{to} exists already: give a new file name")
    if not database.is_file():
        raise BackupError(f"BRIDGE_DATABASE_URL: {database.absolute()} does not exist")
    if not to.absolute().parent.is_dir():
        raise BackupError(f"{to.absolute().parent} is not a folder: make it first")
    partial = to.with_name(f".{to.name}.partial")
    try:
        with (
            closing(sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"the copy of {database} does not check out: {verdict}")
        os.link(partial, to)  # unlike a rename, never replaces a file made meanwhile
    except FileExistsError:
        raise BackupError(f"{to} exists already: give a new file name") from None
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy {database}: {exc}") from None
    except OSError as exc:
        raise BackupError(f"could not write {to}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
