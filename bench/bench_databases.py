"""
The benchmarks' own databases: settings, creation and removal.

Each benchmark uses a database of its own, so that it can run beside the
test suite: a SQLite file under the temporary directory, or a database of
that name on the PostgreSQL or MariaDB server.  The servers' addresses
follow the test suite's ``BATCHRUN_TEST_PG_*`` and
``BATCHRUN_TEST_MARIADB_*`` variables.
"""

import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

VENDORS = ("sqlite", "postgresql", "mariadb")

_SERVERS = {
    "postgresql": ("BATCHRUN_TEST_PG", "5432", "postgres"),
    "mariadb": ("BATCHRUN_TEST_MARIADB", "3306", "root"),
}


def run_on_each(vendors: list[str], name: str, bench: Callable[[str], None]) -> int:
    """Run ``bench(vendor)`` on a fresh database of each vendor; return a status.

    A database whose server cannot be reached is skipped with a message.
    Each runs in a child process of its own, as Django is configured once
    per process, and its database is dropped again afterwards.
    """
    unknown = set(vendors) - set(VENDORS)
    if unknown:
        print(f"Unknown databases: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    failed = False
    for vendor in vendors:
        database = BenchDatabase(vendor, name)
        reason = database.create()
        if reason:
            print(f"{vendor}: skipped, {reason}", flush=True)
            continue
        try:
            failed |= not run_in_child(bench, vendor)
        finally:
            database.drop()
    return 1 if failed else 0


def run_in_child(bench: Callable[[str], None], vendor: str) -> bool:
    """Run ``bench(vendor)`` in a forked child; return whether it succeeded."""
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            bench(vendor)
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


class BenchDatabase:
    """One benchmark database on one vendor's server."""

    def __init__(self, vendor: str, name: str) -> None:
        if vendor not in VENDORS:
            msg = f"Unknown database {vendor!r}; use one of {', '.join(VENDORS)}."
            raise ValueError(msg)
        self.vendor = vendor
        self.name = name
        self.sqlite_path = Path(tempfile.gettempdir()) / f"{name}.sqlite3"

    def get_server(self) -> dict[str, str]:
        """Return the server's address and credentials in Django's keys."""
        prefix, port, user = _SERVERS[self.vendor]
        return {
            "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
            "PORT": os.environ.get(f"{prefix}_PORT", port),
            "USER": os.environ.get(f"{prefix}_USER", user),
            "PASSWORD": os.environ.get(f"{prefix}_PASSWORD", ""),
        }

    def get_settings(self) -> dict:
        """Return the entry for Django's DATABASES setting."""
        if self.vendor == "sqlite":
            return {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": self.sqlite_path,
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 20,
                    "init_command": (
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                    ),
                },
            }
        if self.vendor == "postgresql":
            return {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": self.name,
                **self.get_server(),
            }
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": self.name,
            **self.get_server(),
            "OPTIONS": {"charset": "utf8mb4"},
        }

    def configure_django(self) -> None:
        """Set Django up with batchrun alone, on this database."""
        import django
        from django.conf import settings

        settings.configure(
            DATABASES={"default": self.get_settings()},
            INSTALLED_APPS=["django.contrib.contenttypes", "batchrun"],
            USE_TZ=True,
            TIME_ZONE="UTC",
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        )
        django.setup()

    def create(self, *, keep_existing: bool = False) -> str:
        """Create the database afresh; return why it cannot be, or ''."""
        try:
            if not keep_existing:
                self.drop()
            if self.vendor == "postgresql" and not self._pg_exists():
                self._run_sql(f"CREATE DATABASE {self.name}")
            elif self.vendor == "mariadb":
                self._run_sql(
                    f"CREATE DATABASE IF NOT EXISTS {self.name} "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
        except ImportError as error:
            return f"its driver is not installed ({error})"
        except Exception as error:
            # psycopg and MySQLdb raise their own OperationalError classes.
            reason = str(error).strip().splitlines()[0]
            return f"its server cannot be reached ({reason})"
        return ""

    def drop(self) -> None:
        """Remove the database if it exists."""
        if self.vendor == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
        elif self.vendor == "postgresql":
            self._run_sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        else:
            self._run_sql(f"DROP DATABASE IF EXISTS {self.name}")

    def _pg_exists(self) -> bool:
        rows = self._run_sql(f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'")
        return bool(rows)

    def _run_sql(self, statement: str) -> list:
        """Run one statement outside any database, in autocommit."""
        server = self.get_server()
        if self.vendor == "postgresql":
            import psycopg

            with psycopg.connect(
                host=server["HOST"],
                port=server["PORT"],
                user=server["USER"],
                password=server["PASSWORD"],
                dbname="postgres",
                autocommit=True,
                connect_timeout=5,
            ) as connection:
                cursor = connection.execute(statement)
                return cursor.fetchall() if cursor.description else []
        import MySQLdb

        connection = MySQLdb.connect(
            host=server["HOST"],
            port=int(server["PORT"]),
            user=server["USER"],
            password=server["PASSWORD"],
            connect_timeout=5,
        )
        try:
            cursor = connection.cursor()
            cursor.execute(statement)
            return list(cursor.fetchall())
        finally:
            connection.close()
