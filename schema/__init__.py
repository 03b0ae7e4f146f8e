"""GraphQL only: types, inputs, queries and mutations per domain, composed in ``schema.root``."""
