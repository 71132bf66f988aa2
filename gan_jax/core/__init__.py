"""The pure core: the objective, the train state, the steps, the losses, unrolled optimisation and
latent operations. Pure functions of arrays and pytrees: no files, no devices, no clock."""
