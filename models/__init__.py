"""Tortoise models, one module per domain.

Every scoped record stores ``scope_path``: the materialised path of the org unit it
belongs to (``/s/1/c/4/g/9``), indexed, so "everything under community 4" is one
condition. Records that belong to a person (a concern raised by a resident, an
attendance) also store ``owner_id``; the policy's relation kinds read only these two
columns (see ``services/authz.py``).
"""
