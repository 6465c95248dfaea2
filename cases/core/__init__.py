"""Plumbing every domain stands on: database, configuration, extensions, errors, the HTML shell,
roles and passwords, column types, migrations, mail transport and the root CLI group."""
