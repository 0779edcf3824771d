"""Render an evaluation's report.html in headless Chromium and save a screenshot.

Usage: python benchmarks/render_report.py REPORT_DIR OUT.png [--height PIXELS]

The page is self-contained, so Chromium runs with networking features off;
a screenshot shows what a reader's browser shows.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    sys.exit("No Chromium found; install it with 'apt-get install -y chromium'.")


def render(report_dir: Path, out: Path, *, width: int, height: int) -> None:
    page = (report_dir / "report.html").resolve()
    if not page.is_file():
        sys.exit(f"{page} does not exist; run 'dietnet evaluate' first.")
    with tempfile.TemporaryDirectory(prefix="render-report-") as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={out.resolve()}",
            f"--window-size={width},{height}",
            page.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not out.is_file():
        sys.exit(f"Chromium failed ({done.returncode}):\n{done.stderr[-2000:]}")
    print(f"Saved {out} ({width}x{height}).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    arguments = parser.parse_args()
    render(
        arguments.report_dir,
        arguments.out,
        width=arguments.width,
        height=arguments.height,
    )


if __name__ == "__main__":
    main()
