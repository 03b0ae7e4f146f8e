"""Tortoise models, one module per domain; ``migrations/`` upgrades a database to them.

Every module of this package (but ``base`` and ``migrations``) is a Tortoise models
module: a new domain is a new file here, found by ``MODULES`` without being listed.
A model whose class name is a policy resource (``Concern``, ``Meeting`` ...) is the table
of that resource (see ``services.authz.model_of``).
"""

import pkgutil
from pathlib import Path

MODULES: tuple[str, ...] = tuple(
    f"{__name__}.{info.name}"
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name)
    if not info.ispkg and info.name != "base"
)
