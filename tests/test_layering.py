"""The package's layering (pyproject.toml's import-linter contracts) holds: each layer imports
only the layers below it, and the pure layers import no file, figure or logging code."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extra: pip install -e '.[test]'"
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout, proc.stdout[-2000:]


def test_a_core_module_importing_the_shell_breaks_the_contract(tmp_path):
    """The contract can fail: a copy of the package whose core imports the command line is refused."""
    shutil.copytree(os.path.join(ROOT, "gan_jax"), tmp_path / "gan_jax",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp_path / "pyproject.toml")
    with open(tmp_path / "gan_jax" / "core" / "losses.py", "a") as f:
        f.write("\nfrom gan_jax.cli import main  # noqa: E402,F401\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", "--no-cache"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode != 0 and "BROKEN" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
