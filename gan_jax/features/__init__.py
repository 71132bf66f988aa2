"""Feature extractors: the Inception port of FID and its weight converter, the digits (8x8) and
MNIST (28x28) classifiers and their shared training, and their weight cache (``$GAN_JAX_CACHE``)."""
