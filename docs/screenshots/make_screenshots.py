"""Regenerate the PNGs in docs/screenshots/ (run from the repository root).

    OMP_NUM_THREADS=1 python docs/screenshots/make_screenshots.py

* explorer-minilm-sst2.png, explorer-tiny-sst2.png: the browser test of tests/test_app.py,
  run with DEPTHLENS_EXPLORER_MODELS so that `depthlens serve`'s app holds the cached
  real models (CI runs the same test on a tiny random model);
* demo-report.png, demo-examples.png: the report `depthlens demo` writes, in headless Chromium;
* long-input.png: a 484-token ERASER movie review, `gradient` at every layer of minilm-sst2.

Every PNG is reduced to a 256-colour palette so that it stays well under 300 KB.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))
LONG_REVIEW = 9  # eraser_movies:test document with 484 minilm-sst2 tokens (the "500")


def explorer_screenshots() -> None:
    env = {**os.environ, "DEPTHLENS_SCREENSHOT_DIR": str(HERE),
           "DEPTHLENS_EXPLORER_MODELS": "minilm-sst2,tiny-sst2"}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_app.py", "-k",
                    "browser_end_to_end"], cwd=ROOT, env=env, check=True)


def long_input_page(out: Path) -> Path:
    import depthlens
    from depthlens.data import load
    from depthlens.viz import write_html

    review = load("eraser_movies:test")[LONG_REVIEW]
    exp = depthlens.explain("minilm-sst2", review.text, "gradient", layer="all")
    return write_html(out, exp, title=f"minilm-sst2: a {len(exp.tokens)}-token movie review")


def shoot(pages: dict[str, tuple[Path, int]]) -> None:
    """Screenshot each local HTML file at 1280 px width and the given height."""
    from browser import chromium

    with chromium() as browser:
        for name, (page_file, height) in pages.items():
            page = browser.new_page(viewport={"width": 1280, "height": height})
            page.goto(page_file.as_uri())
            page.screenshot(path=str(HERE / name))
            page.close()


def shrink(png: Path) -> None:
    Image.open(png).convert("RGB").quantize(256).save(png, optimize=True)


def main() -> None:
    from depthlens.demo import run_demo

    explorer_screenshots()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_demo(out_dir=Path(tmp) / "demo")
        shoot({"demo-report.png": (report, 2000),
               "demo-examples.png": (report.parent / "examples.html", 1400),
               "long-input.png": (long_input_page(Path(tmp) / "long.html"), 1100)})
    for png in sorted(HERE.glob("*.png")):
        shrink(png)
        print(f"{png.name}: {png.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
