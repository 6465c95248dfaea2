"""Create or drop the PostgreSQL database of one test run: `python -m tests.pg_database
create|drop|url ADMIN_URL NAME` (used by `make test-postgres`)."""

import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def database_url(admin_url: str, name: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


def main(action: str, admin_url: str, name: str) -> None:
    if action == "url":
        print(database_url(admin_url, name))
        return
    with psycopg.connect(admin_url, autocommit=True) as connection:
        if action == "create":
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        elif action == "drop":
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        else:
            raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
