"""GAN theory made runnable: densities and divergences, the bilinear game and the 1-D GAN, and the
Dirac-GAN lab. Pure functions, like the core they build on."""
