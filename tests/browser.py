"""Headless Chromium for the browser tests: Debian's ``chromium`` package, driven by Playwright.

Playwright is told to use ``/usr/bin/chromium`` (``executable_path``), so it never downloads a
browser of its own. A fresh machine has no ``/usr/bin/chromium``: :func:`ensure_chromium`
installs it with apt (CI runs as root with Debian's package registry reachable) and fails with
a clear message, never a silent skip, when that is impossible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path(os.environ.get("LNOB_CHROMIUM", "/usr/bin/chromium"))
INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"


class BrowserUnavailable(RuntimeError):
    pass


def ensure_chromium(timeout: int = 900) -> Path:
    """``/usr/bin/chromium``, installed with apt first when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise BrowserUnavailable(
            f"{CHROMIUM} is missing and there is no apt-get here to install it: "
            "install Debian's `chromium` package (or set LNOB_CHROMIUM to a Chromium binary)"
        )
    if os.geteuid() != 0:
        raise BrowserUnavailable(
            f"{CHROMIUM} is missing and installing it needs root: run `sudo sh -c "
            f"'{INSTALL}'` once, then the tests again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["sh", "-c", INSTALL], env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not CHROMIUM.exists():
        raise BrowserUnavailable(
            f"installing chromium failed (`{INSTALL}` exited {done.returncode}):\n"
            + (done.stdout[-2000:] + done.stderr[-3000:])
        )
    return CHROMIUM


def launch(playwright):
    """Headless Debian Chromium through Playwright (no sandbox: CI runs the tests as root)."""
    return playwright.chromium.launch(
        executable_path=str(ensure_chromium()),
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    )


if __name__ == "__main__":  # `python tests/browser.py`: install Chromium ahead of the tests
    print(ensure_chromium())


PNG_STATS_JS = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Map();
  for (let i = 0; i < d.length; i += 4) {
    const k = '#' + [d[i], d[i + 1], d[i + 2]].map(v => v.toString(16).padStart(2, '0')).join('');
    colours.set(k, (colours.get(k) || 0) + 1);
  }
  const pixels = d.length / 4;
  return {width: canvas.width, height: canvas.height, distinct: colours.size,
          white: (colours.get('#ffffff') || 0) / pixels, counts: Object.fromEntries(colours)};
}"""


def png_stats(page, png: bytes) -> dict:
    """Width, height, distinct colours and pixel counts per colour of a PNG, decoded by the browser
    itself (no imaging library needed): a blank screenshot has one colour."""
    import base64

    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return page.evaluate(PNG_STATS_JS, base64.b64encode(png).decode())
