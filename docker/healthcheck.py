#!/usr/bin/env python3
"""``askdocs-healthcheck URL``: exit 0 when URL answers 2xx within 5 s, else 1 (for Docker healthchecks).

The slim image has no curl; Python is there anyway. Compose runs it against each service's own health
endpoint (REST API ``/health``, Streamlit ``/_stcore/health``, Chroma ``/api/v2/heartbeat``).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def healthy(url: str, timeout_s: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - a URL we configure
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):  # HTTPError (a 503) is a URLError
        return False


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: askdocs-healthcheck URL")
    sys.exit(0 if healthy(sys.argv[1]) else 1)
