"""``python -m app [streamlit options]``: the web app, with Streamlit's own limits taken from the settings.

Streamlit refuses an upload over ``server.maxUploadSize`` before askdocs sees it, and that option
cannot be changed once the server runs; so the launcher passes ``ASKDOCS_MAX_UPLOAD_MB`` (rounded up
to Streamlit's whole megabytes) on the command line. Raising the setting then raises both limits;
askdocs checks the exact byte size again in code. Further options are passed on to ``streamlit run``.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from askdocs.settings import Settings, load_settings

MAIN_SCRIPT = Path(__file__).resolve().with_name("main.py")


def streamlit_command(settings: Settings, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN_SCRIPT),
        "--server.maxUploadSize",
        str(math.ceil(settings.max_upload_mb)),
        *extra,
    ]


def main() -> None:
    command = streamlit_command(load_settings(), sys.argv[1:])
    os.execv(command[0], command)  # Streamlit becomes this process: signals and exit codes stay plain


if __name__ == "__main__":
    main()
