"""The world outside: local and ``gs://`` paths with atomic writes, chunked ``.npz`` output, and
figures drawn with matplotlib's object interface."""
