"""Fetch a Debian package with apt and keep it, extracted, in a cache folder.

``fetch_deb("python3.11-doc", cache)`` returns the .deb, its version and
sha256, and the folder it was unpacked into with ``dpkg-deb -x`` (nothing is
installed).

Design choices:

- The .deb and its extracted tree are cached and reused: nothing here needs
  the network once the .deb is in the cache. A .deb copied into the cache by
  hand is used like a downloaded one, for systems without apt.
- Without ``version`` the newest cached .deb (in dpkg's version order) is
  used, and apt's candidate is downloaded only when there is none: a
  benchmark should not change because Debian published a security update.
- Concurrent builds sharing a cache take a lock, so they download and extract
  once. Downloads and extraction happen in a staging folder moved into place
  at the end, and the extracted tree holds a marker with the .deb's sha256,
  written last: a half-extracted tree, or one from another .deb of the same
  name, is extracted again rather than used.
- A missing apt-get or dpkg, a failed download and a failed extraction
  raise :class:`DocsUnavailable` with a message that says what to do (run
  ``apt-get update``, or put the .deb into the cache), not a traceback from
  ``subprocess``.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path

APT_LISTS = Path("/var/lib/apt/lists")
# Where the benchmark builders keep their .debs, shared so each is fetched once
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".askdocs" / "eval-data" / "debs"


class DocsUnavailable(RuntimeError):
    """The documentation package could not be fetched; the message says what to do."""


@dataclass(frozen=True)
class DebPackage:
    """A cached .deb and the tree it was extracted to."""

    deb: Path
    version: str
    sha256: str
    root: Path  # the extracted tree


def fetch_deb(
    package: str, cache: Path, version: str | None = None, *, apt_lists: Path = APT_LISTS
) -> DebPackage:
    """The extracted ``package``: a cached .deb when there is one, else ``apt-get download``.

    ``apt_lists`` is only looked at to explain a failed download (no lists: run ``apt-get update``).
    """
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds sharing a cache download and extract once
        deb = _cached_deb(package, cache, version) or _download(package, cache, version, apt_lists)
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        tree = cache / deb.name.removesuffix(".deb")
        marker = tree / ".askdocs-extracted"  # written last: its presence means the tree is complete
        if not (marker.is_file() and marker.read_text().strip() == digest):
            staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
            try:
                _run(["dpkg-deb", "-x", str(deb), str(staging)], f"dpkg-deb could not extract {deb.name}")
                (staging / marker.name).write_text(digest + "\n")
                if tree.exists():
                    shutil.rmtree(tree)
                staging.rename(tree)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return DebPackage(deb, _deb_version(deb), digest, tree)


def _deb_version(deb: Path) -> str:
    return deb.name.split("_")[1].replace("%3a", ":")  # apt names files PACKAGE_VERSION_ARCH.deb


def _cached_deb(package: str, cache: Path, version: str | None) -> Path | None:
    debs = [d for d in cache.glob(f"{package}_*.deb") if version in (None, _deb_version(d))]

    def compare(a: Path, b: Path) -> int:
        if _deb_version(a) == _deb_version(b):
            return 0
        newer = subprocess.run(["dpkg", "--compare-versions", _deb_version(a), "gt", _deb_version(b)])
        return 1 if newer.returncode == 0 else -1

    return max(debs, key=cmp_to_key(compare)) if debs else None


def _download(package: str, cache: Path, version: str | None, apt_lists: Path) -> Path:
    spec = package if version is None else f"{package}={version}"
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        try:
            command = ["apt-get", "download", spec]
            result = subprocess.run(command, cwd=staging, capture_output=True, text=True, timeout=900)
        except FileNotFoundError:
            raise DocsUnavailable(
                f"apt-get not found: this builder fetches the Debian package {package}. On another system, "
                f"put a {package}_*.deb into {cache} and run it again"
            ) from None
        debs = sorted(staging.glob("*.deb"))
        if result.returncode != 0 or not debs:
            errors = [line for line in result.stderr.splitlines() if line.startswith("E:")]
            errors = errors or [result.stderr.strip()]
            if not any(apt_lists.glob("*_Packages*")):
                raise DocsUnavailable(
                    f"apt has no package lists, so it cannot find {package}: run `apt-get update` "
                    f"(as root), then build again. apt said: {' '.join(errors)}"
                )
            raise DocsUnavailable(
                f"`apt-get download {spec}` failed: {' '.join(errors)} "
                "(if the package is not found, run `apt-get update` as root)"
            )
        target = cache / debs[0].name
        debs[0].replace(target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run(command: list[str], failure: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DocsUnavailable(f"{command[0]} not found: install dpkg") from None
    if result.returncode != 0:
        raise DocsUnavailable(f"{failure}: {result.stderr.strip()}")
