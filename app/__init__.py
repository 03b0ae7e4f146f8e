"""The application shell, above ``schema/``: the HTTP app, the ``bandeng`` command, the
GraphiQL page and the demo seed. It reaches the database only through ``services/``."""
