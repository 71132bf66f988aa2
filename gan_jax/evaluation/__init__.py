"""Running the metrics: FID sources, the evaluation of a run, evaluation during training, features of
sample streams and statistics files. The formulas are in :mod:`gan_jax.metrics`."""
