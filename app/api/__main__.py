"""``python -m app.api``: serve the REST API, or ``python -m app.api keys new ...`` (``app.api.cli``)."""

from app.api.cli import main

main()
