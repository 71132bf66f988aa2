"""Data sources (one batch interface over toys, digits, stacked digits, the user's ``.npz`` files and
image folders, and tensorflow-datasets) and the checked reading of the user's files."""
