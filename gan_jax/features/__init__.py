"""Feature extractors: the Inception port of FID and its weight converter, the digits classifier,
and their weight cache (``$GAN_JAX_CACHE``)."""
