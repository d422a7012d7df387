"""Command line: ``python -m generation ask "QUESTION" [--collection NAME] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys

from askdocs.quiet import quiet_libraries
from askdocs.settings import load_settings
from askdocs.types import Answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generation", description="Ask the indexed documents.")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer a question with cited sources")
    ask.add_argument("question")
    ask.add_argument("--collection", help="collection to search (default: ASKDOCS_DEFAULT_COLLECTION)")
    ask.add_argument(
        "--json", action="store_true", help="print the whole Answer as JSON instead of streaming"
    )
    args = parser.parse_args(argv)

    quiet_libraries()
    settings = load_settings()
    from askdocs.runtime import open_for_command_line
    from generation.generators import GeneratorUnavailable
    from generation.routing import tier_label
    from retrieval.stores import StoreUnavailable

    runtime = open_for_command_line(settings)
    if runtime is None:
        return 2
    try:
        collection = args.collection or settings.default_collection
        if collection not in runtime.store.collections():
            print(
                f"error: no collection {collection!r}; index documents first: python -m ingest PATH",
                file=sys.stderr,
            )
            return 2
        pipeline = runtime.pipeline()  # with the semantic cache, as the app and the REST API answer
        answer, streamed = None, []
        for event in pipeline.stream(args.question, collection):
            if isinstance(event, Answer):
                answer = event
            else:
                streamed.append(event)
                if not args.json:
                    print(event, end="", flush=True)
    except (GeneratorUnavailable, StoreUnavailable) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 3
    finally:
        runtime.close()
    assert answer is not None
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print("\n")
    if answer.incomplete:
        print(f"(the answer was cut off: {answer.incomplete_reason})")
    if answer.text != "".join(streamed).strip():
        print(f"with citations checked: {answer.text}")
    for c in answer.citations:
        print(f'[{c.number}] {c.source}, {c.page_label}: "{c.snippet}"')
    if not answer.citations and not answer.abstained:
        print("(no source supports this answer)")
    for sentence in answer.unsupported_sentences:
        print(f"unsupported: {sentence}")
    t = answer.timings
    print(
        f"retrieval {t.get('retrieve', 0):.2f}s, first token {t.get('first_token', 0):.2f}s, "
        f"total {t.get('total', 0):.2f}s, {answer.prompt_tokens} prompt + {answer.completion_tokens} answer tokens"
        f" ({answer.backend})"
    )
    if answer.tier:
        print(f"routed to the {tier_label(answer.tier, answer.tier_reason)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
