"""The command line answers --help without importing JAX or the library (a fast start)."""

import json
import subprocess
import sys
import time

import pytest

PROBE = """
import json, sys
from gan_jax.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'numpy', 'gan_jax'))))
"""


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["sample", "--help"], ["fid", "--help"],
                                  ["study", "serve", "--help"]])
def test_help_imports_neither_jax_nor_the_library(argv):
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - start
    loaded = json.loads(out.strip().splitlines()[-1])
    assert not [m for m in loaded if m.split(".")[0] in ("jax", "jaxlib", "flax", "numpy")], loaded
    assert {m.split(".")[1] for m in loaded if "." in m} <= {"cli", "config", "errors", "io"}, loaded
    assert seconds < 3.0, seconds   # about 0.2 s on the project's 2-core CPU; generous for a loaded machine
