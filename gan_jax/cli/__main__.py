"""``python -m gan_jax.cli`` is the ``gan-jax`` command."""

import sys

from gan_jax.cli import main

sys.exit(main())
