"""The README and the Markdown pages it leads to: the library snippet runs, the
test command is the one CI runs, every relative link and image resolves, and
every page has one title.

Links are read from the Markdown text (``[text](target)`` and
``![alt](target)``), outside fenced code blocks and inline code; a target with a
scheme (``https:``...) or only a ``#fragment`` is not a file and is skipped.
"""

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDE_PAGES = ["cli", "run_directory", "evaluation", "reliability", "buckets", "study", "theory"]
PAGES = [README, ROOT / "experiments/README.md", ROOT / "benchmarks/README.md", ROOT / "CHANGELOG.md"] + [
    ROOT / "docs/guide" / f"{name}.md" for name in GUIDE_PAGES
]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose(text):
    """The Markdown text without fenced code blocks and inline code."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def link_targets(text):
    """Every link and image target of a Markdown text, in order."""
    return LINK.findall(prose(text))


def test_link_reader_on_a_hand_made_page():
    text = (
        "See [a](guide/a.md#part), ![fig](img/f.png \"title\") and [web](https://x.org).\n"
        "`[not](code.md)`\n```\n[nor](block.md)\n```\n[[x] y](z.md) [anchor](#top)\n"
    )
    assert link_targets(text) == ["guide/a.md#part", "img/f.png", "https://x.org", "z.md", "#top"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page):
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing"
    missing = []
    for target in link_targets(page.read_text(encoding="utf-8")):
        if SCHEME.match(target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if ROOT not in path.parents or not path.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)}: links to nothing in the repository: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_page_starts_with_its_one_title(page):
    lines = prose(page.read_text(encoding="utf-8")).splitlines()
    assert lines[0].startswith("# "), f"{page.relative_to(ROOT)} does not start with '# Title'"
    assert sum(line.startswith("# ") for line in lines) == 1


def test_readme_is_a_front_door():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_the_readme_test_command_is_what_ci_runs():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    assert test_command in (ROOT / ".ci/run").read_text(encoding="utf-8")


def test_readme_library_snippet_runs():
    """The README's Python snippet, as written: it trains three steps and samples."""
    snippets = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(snippets) == 1
    namespace = {}
    exec(compile(snippets[0], "README.md", "exec"), namespace)
    samples = np.asarray(namespace["samples"])
    assert samples.shape == (16, 8, 8, 1)
    assert np.all(np.abs(samples) <= 1.0)  # G's tanh output
    assert all(np.isfinite(np.asarray(v)).all() for v in namespace["metrics"].values())
    assert int(namespace["state"].step) > 0
