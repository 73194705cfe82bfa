"""`manage.py migrate`, with the two databases of issue 20 looked after (docs/scaling.md):

- run from the command line without `--database`, it migrates the money database and then the gateway's books
  (`--database gateway`), so every existing `migrate` line (make run, compose, the Procfile's release, CI)
  keeps setting up both;
- the gateway database is created first when it is missing (the default `<name>_gateway` needs no set-up);
- with `DATABASE_DIRECT_URL` set, it connects there instead of through DATABASE_URL's pool.
"""
import dj_database_url
from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DEFAULT_DB_ALIAS, connections

from core.db import GATEWAY


def _direct(alias: str) -> None:
    """Point this process's connection for `alias` at DATABASE_DIRECT_URL (the gateway: the same server's
    `<name>_gateway`, unless GATEWAY_DATABASE_URL names it)."""
    url = getattr(settings, "DATABASE_DIRECT_URL", "")
    if not url or (alias == GATEWAY and settings.GATEWAY_DATABASE_URL) or alias not in (DEFAULT_DB_ALIAS, GATEWAY):
        return
    direct = dj_database_url.parse(url)
    if alias == GATEWAY:
        direct["NAME"] = f"{direct['NAME']}_gateway"
    connection = connections[alias]
    connection.close()
    connection.settings_dict.update({key: direct[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")})
    connection.settings_dict.pop("DISABLE_SERVER_SIDE_CURSORS", None)


def database_ensure(alias: str) -> bool:
    """Create the database of `alias` on its server if it does not exist; returns whether it was created."""
    import psycopg2
    from psycopg2 import sql

    params = connections[alias].get_connection_params()
    name = params.pop("dbname", None) or params.pop("database")
    params["dbname"] = "postgres"
    admin = psycopg2.connect(**params)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        admin.close()


class Command(DjangoMigrate):
    help = (DjangoMigrate.help + " From the command line without --database: the money database, then the "
            "gateway's books (created when missing).")

    def handle(self, *args, **options):
        alias = options["database"]
        _direct(alias)
        if alias == GATEWAY and database_ensure(GATEWAY) and options["verbosity"] >= 1:
            self.stdout.write(f"Created the gateway database {connections[GATEWAY].settings_dict['NAME']}.")
        super().handle(*args, **options)
        # Only a command line's plain `migrate` follows on: the test runner and scripts call it per alias.
        if alias == DEFAULT_DB_ALIAS and getattr(self, "_called_from_command_line", False):
            _direct(GATEWAY)
            if database_ensure(GATEWAY) and options["verbosity"] >= 1:
                self.stdout.write(f"Created the gateway database {connections[GATEWAY].settings_dict['NAME']}.")
            if options["verbosity"] >= 1:
                self.stdout.write("Migrating the gateway's books (--database gateway):")
            super().handle(*args, **{**options, "database": GATEWAY})
