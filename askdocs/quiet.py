"""Keeping third-party chatter out of the user's terminal."""

from __future__ import annotations

import logging
import os
import warnings


def quiet_libraries() -> None:
    # The packaged models are local folders, so nothing here needs the hub; HF_HUB_OFFLINE is left
    # to the user, who may well be online and asking for a hub id.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # e.g. "sequence longer than 256" when counting
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    for name in ("chromadb", "sentence_transformers", "transformers", "httpx", "bm25s"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Our own progress notes (e.g. the one-time model conversion) reach the terminal.
    ours = logging.getLogger("askdocs")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("askdocs: %(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
