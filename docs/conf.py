"""Sphinx configuration of the gan_jax documentation.

Build (offline, warnings as errors; executes the notebooks)::

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

Markdown pages and notebooks go through MyST-NB; the API reference is autodoc
over each module's ``__all__`` with Napoleon reading the Google-style sections.
No intersphinx: references to other projects' names (jax, numpy, flax, optax,
the standard library) stay plain text, and ``nitpick_ignore_regex`` below says
so for those packages only.
"""

import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(DOCS)
sys.path.insert(0, REPO)
# The notebooks' kernels import gan_jax from this checkout too, and run on the CPU unless told otherwise.
os.environ["PYTHONPATH"] = REPO + os.pathsep + os.environ.get("PYTHONPATH", "")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gan_jax  # noqa: E402

project = "gan_jax"
author = "the gan_jax authors"
copyright = "the gan_jax authors"
release = version = gan_jax.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# ---------------------------------------------------------------- autodoc and napoleon
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
add_module_names = False
python_use_unqualified_type_names = True

# Other projects' names have no inventory here (no intersphinx fetch): leave them unlinked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jnp|np|numpy|flax|nn|optax|orbax|struct|core|chex|PIL|matplotlib|starlette|argparse|sqlite3|"
               r"collections|typing|os|pathlib|concurrent|threading|subprocess|contextlib|types|enum|io|logging|"
               r"dataclasses|abc|functools|tensorboardX|tf|tensorflow|etils|uvicorn|httpx2|socket|faulthandler)(\..*)?"),
    (r"py:.*", r"(int|float|str|bytes|bool|dict|list|tuple|set|frozenset|object|type|callable|Callable|Any|Optional|"
               r"Union|Iterable|Iterator|Sequence|Mapping|Tuple|Dict|List|NamedTuple|Exception|ValueError|"
               r"TypeError|OSError|BaseException|KeyboardInterrupt|Path|PRNGKey|Array|ArrayTree|ndarray|Params|PyTree)"),
]

# ---------------------------------------------------------------- MyST and notebooks
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "force"          # every build runs every notebook: a failing cell fails the build
nb_execution_raise_on_error = True
nb_execution_timeout = 120           # seconds per cell
nb_execution_show_tb = True
nb_merge_streams = True

# ---------------------------------------------------------------- HTML
html_theme = "sphinx_book_theme"
html_title = f"gan_jax {release}"
html_theme_options = {
    "repository_url": "",
    "use_download_button": False,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_static_path = []
html_last_updated_fmt = None


def _skip_named_tuple_fields(app, what, name, obj, skip, options):
    """A NamedTuple's fields are described in its docstring's Attributes section; autodoc would list
    them a second time as properties documented "Alias for field number N"."""
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return None


def _no_inline_type(app, what, name, obj, options, lines):
    """Napoleon reads the first line of a data or attribute docstring as ``type: description``;
    ours are prose ("Trial types in 2afc mode: error, correct"), so they start with an empty
    reStructuredText comment, which napoleon takes for the description's first line."""
    if what in ("data", "attribute") and lines and lines[0].strip():
        lines[:0] = ["..", ""]


def setup(app):
    app.connect("autodoc-skip-member", _skip_named_tuple_fields)
    app.connect("autodoc-process-docstring", _no_inline_type, priority=100)   # before napoleon (500)
