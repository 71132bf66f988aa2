"""The user study: raters judge real against generated images in a web page.

Modules: :mod:`~gan_jax.study.stimuli` (samples and real images, encoded
alike), :mod:`~gan_jax.study.plan` (model assignment and each session's
trials), :mod:`~gan_jax.study.store` (the SQLite database),
:mod:`~gan_jax.study.app` (the Starlette app and its page under
``static/``), :mod:`~gan_jax.study.server` (setting up and serving),
:mod:`~gan_jax.study.stats` (the bootstrap, pure),
:mod:`~gan_jax.study.report` (``report.json`` and the figure) and
:mod:`~gan_jax.study.simulate` (simulated raters over HTTP, for tests and
experiments). The web modules need the ``study`` extra; importing this
package imports none of them.
"""
