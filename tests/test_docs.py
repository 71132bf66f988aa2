"""The documentation: every public name has a docstring, the core's examples run as doctests,
the site builds offline with warnings as errors (executing every notebook, so a failing cell
fails the build), the API reference lists every public name, and the notebook pages show their
figures, also in a real browser.

The site is built once per test session (``sphinx-build -W --keep-going -n``, a subprocess) into
the session's shared temporary folder; under pytest-xdist the first worker to need it builds it
under a file lock and the others read the same build (with ``--dist loadgroup`` the tests that
need it run on one worker: the ``docs_site`` group).
"""

import doctest
import fcntl
import functools
import html.parser
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import time
import types

import pytest

import gan_jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs")
NOTEBOOKS = ("quickstart", "nash_oscillation", "theory", "evaluation")
BUILD_TIMEOUT_S = 900
CORE_DOCTEST_MODULES = ("gan_jax.core.losses", "gan_jax.core.state", "gan_jax.core.latent")


def _modules():
    """``gan_jax`` and every module under it (``__main__`` modules excluded: they run on import)."""
    names = ["gan_jax"] + [m.name for m in pkgutil.walk_packages(gan_jax.__path__, "gan_jax.")]
    return [importlib.import_module(n) for n in names if not n.endswith("__main__")]


def _public_names():
    """``(module, name, object)`` for every name in every ``__all__``."""
    return [(m, name, getattr(m, name)) for m in _modules() for name in getattr(m, "__all__", ())]


@functools.lru_cache(maxsize=None)
def _attribute_docs(module_name: str) -> dict:
    """``{name: doc lines}`` of a module's ``#:`` doc comments and attribute docstrings (what
    autodoc shows for a constant); empty for a module without source."""
    from sphinx.errors import PycodeError
    from sphinx.pycode import ModuleAnalyzer
    try:
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
    except PycodeError:
        return {}
    return {name: lines for (scope, name), lines in docs.items() if scope == ""}


def _defining_module(module, name, obj):
    """The module whose doc comment documents the constant ``module.name`` (``module`` itself, or
    the module it was imported from), or None."""
    for candidate in [module] + _modules():
        if getattr(candidate, name, None) is obj and name in _attribute_docs(candidate.__name__):
            return candidate
    return None


def _is_data(obj) -> bool:
    return not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj) or callable(obj))


def _docstring(module, name, obj) -> str:
    """The documentation autodoc renders for ``module.name``: a constant's doc comment (in the
    module that defines it, for a re-exported one), a class's own docstring (not one inherited),
    the docstring of a module or function; a callable object's only where it is its own, not its type's."""
    if _is_data(obj):
        defining = _defining_module(module, name, obj)
        return "\n".join(_attribute_docs(defining.__name__)[name]) if defining else ""
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__") or ""
    doc = getattr(obj, "__doc__", None) or ""
    if not (inspect.ismodule(obj) or inspect.isroutine(obj)) and doc == type(obj).__doc__:
        return ""
    return doc


def test_every_public_name_has_a_docstring():
    public = _public_names()
    assert len(public) > 300   # every subpackage's modules are reached
    missing = [f"{m.__name__}.{name}" for m, name, obj in public if not _docstring(m, name, obj).strip()]
    assert not missing, f"public names without a docstring (autodoc would render them blank): {missing}"


def test_the_docstring_check_catches_a_blank_name():
    module = types.ModuleType("gan_jax_fake")
    module.__all__ = ["f", "C", "VALUE"]

    def f():
        pass

    class C:
        pass

    module.f, module.C, module.VALUE = f, C, 3
    assert [_docstring(module, n, getattr(module, n)) for n in module.__all__] == ["", "", ""]


@pytest.mark.parametrize("module_name", CORE_DOCTEST_MODULES)
def test_core_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module_name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {module_name} failed"


def test_a_wrong_docstring_example_fails():
    module = types.ModuleType("gan_jax_fake")
    module.__doc__ = ">>> 1 + 1\n3\n"
    assert doctest.testmod(module, report=False).failed == 1


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_stored_without_outputs(name):
    with open(os.path.join(DOCS, "notebooks", f"{name}.ipynb")) as f:
        cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    assert cells
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells)


# ---------------------------------------------------------------- the site, built once per session

def _build(out: str) -> dict:
    """Run sphinx-build (warnings as errors, nitpicky, notebooks executed) into ``out``."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           "-d", os.path.join(out, ".doctrees"), DOCS, os.path.join(out, "html")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    return {"returncode": done.returncode, "log": (done.stdout + done.stderr)[-20000:],
            "seconds": time.monotonic() - start}


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The built site's ``html`` folder, built once for all xdist workers (a file lock in the
    session's shared temporary root); fails every test that needs it if the build failed."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    out = root / "docs_build"
    with open(root / "docs_build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = out / "result.json"
        if not record.exists():
            out.mkdir(exist_ok=True)
            record.write_text(json.dumps(_build(str(out))))
        result = json.loads(record.read_text())
    assert result["returncode"] == 0, f"sphinx-build failed:\n{result['log']}"
    return out / "html"


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def _figures(page) -> list:
    """The ``src`` of every notebook figure on a built page: inline data or a file in ``_images``."""
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    return [s for s in parser.sources if s.startswith("data:image/") or "_images/" in s]


@pytest.mark.xdist_group("docs_site")
def test_the_site_builds_and_lists_every_public_name(site):
    from sphinx.util.inventory import InventoryFile
    with open(site / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", os.path.join)
    documented = {name for objects in inventory.values() for name in objects}
    missing = []
    for module, name, obj in _public_names():
        candidates = {f"{module.__name__}.{name}"}
        if inspect.ismodule(obj):
            candidates.add(obj.__name__)
        elif _is_data(obj):
            defining = _defining_module(module, name, obj)   # a re-exported constant: where it is documented
            if defining is not None:
                candidates.add(f"{defining.__name__}.{name}")
        elif getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
            candidates.add(f"{obj.__module__}.{obj.__qualname__}")   # a re-export: where it is defined
        if not candidates & documented:
            missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public names missing from the API reference: {missing}"
    assert (site / "index.html").exists() and (site / "api" / "core.html").exists()


@pytest.mark.xdist_group("docs_site")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_pages_contain_their_figures(site, name):
    page = site / "notebooks" / f"{name}.html"
    figures = _figures(page)
    assert figures, f"{page} has no figure"
    for src in figures:
        if not src.startswith("data:"):
            assert (page.parent / src).resolve().is_file(), f"{page} links a missing image {src}"


def test_a_page_without_figures_is_noticed(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<p>no figure</p><img src="logo.svg">')
    assert _figures(page) == []


@pytest.mark.skipif(not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
@pytest.mark.xdist_group("docs_site")
def test_notebook_figures_load_in_a_browser(site, tmp_path):
    from test_study_app import chromium
    with chromium(tmp_path) as driver:
        for name in NOTEBOOKS:
            driver.get((site / "notebooks" / f"{name}.html").as_uri())
            sizes = driver.execute_script(
                "return Array.from(document.querySelectorAll('.cell_output img'))"
                ".map(i => [i.complete, i.naturalWidth, i.naturalHeight]);")
            assert sizes, f"{name}: no figure in the page"
            assert all(complete and w > 0 and h > 0 for complete, w, h in sizes), (name, sizes)
