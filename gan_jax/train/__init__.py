"""Training: the one driver (many seeds in one compiled program), the command line's loop of hooks
around it, memory estimates before compiling, and data parallelism over devices and hosts."""
