"""Screenshots of the interactive backward page and of report.html, taken by the browser tests'
headless Chromium: python docs/make_screenshots.py (needs chromium, chromium-driver, selenium).

* docs/backward.png: ``chainrule explain --html`` (the article's example), walked to the end;
* docs/report.png: the top of the report.html that ``chainrule train`` writes for the digits.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from chainrule.cli import main  # noqa: E402
from tests.browser.conftest import start_browser  # noqa: E402


def screenshots(folder: pathlib.Path = HERE) -> list[pathlib.Path]:
    tmp = pathlib.Path(tempfile.mkdtemp())
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main(["explain", "--html", str(tmp / "backward.html")])
            main(["train", "--data", "iris", "--model", "mlp", "--epochs", "60", "--quiet",
                  "--out", str(tmp / "model")])  # fmt: skip
        browser = start_browser()
        try:
            browser.set_window_size(1400, 900)
            browser.get((tmp / "backward.html").as_uri())
            browser.find_element("tag name", "body").send_keys("\ue010")  # End: the whole walk
            browser.save_screenshot(str(folder / "backward.png"))
            browser.set_window_size(1100, 1400)
            browser.get((tmp / "model" / "report.html").as_uri())
            browser.execute_script("document.querySelector('h2:nth-of-type(4)').scrollIntoView()")
            browser.save_screenshot(str(folder / "report.png"))
        finally:
            browser.quit()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [folder / "backward.png", folder / "report.png"]


if __name__ == "__main__":
    for path in screenshots():
        print(f"wrote {path.relative_to(HERE.parent)}")
