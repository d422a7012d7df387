"""The REST API: ask (streamed as server-sent events), documents, collections, health, metrics.

    python -m app.api                                   # serve on ASKDOCS_REST_HOST:ASKDOCS_REST_PORT
    python -m app.api keys new --user bob --groups sales  # print a new API key once, and its line

Serving builds the parts once from settings (``app.api.parts``); a malformed keys file or a store
another process holds stops it at start with the reason, before uvicorn binds the port.
"""

import argparse
import logging

from app.api.factory import create_app
from app.api.keys import KeysFileError, new_key
from app.api.parts import parts_from_settings
from retrieval.stores import StoreLocked

log = logging.getLogger("askdocs.api")


def _new_key(args: argparse.Namespace) -> None:
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    key, record = new_key(args.user, groups, args.admin)
    print(f"API key for {args.user} (shown once; give it to the program, keep it secret):\n\n  {key}\n")
    print(f"Add this line to the keys file ({args.keys_file}) and restart the API:\n\n  {record.line()}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.api", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="action", required=True)
    new = keys.add_parser("new", help="create a key; prints it once and the line for the keys file")
    new.add_argument("--user", required=True, help="the user name the key acts as (collection policies)")
    new.add_argument("--groups", default="", help="comma-separated groups")
    new.add_argument("--admin", action="store_true", help="may upload and delete documents")
    return parser


def main(argv: list[str] | None = None) -> None:
    from askdocs.settings import load_settings

    args = _parser().parse_args(argv)
    settings = load_settings()
    if args.command == "keys":
        args.keys_file = settings.api_keys_path
        try:
            _new_key(args)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        return

    import uvicorn

    try:
        parts = parts_from_settings(settings)
    except (KeysFileError, StoreLocked) as error:
        raise SystemExit(f"error: {error}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("%d API key(s) configured", len(parts.keys))
    try:
        uvicorn.run(create_app(parts), host=settings.rest_host, port=settings.rest_port)
    finally:
        parts.runtime.close()
