"""Which rows of a global batch each process of a multi-host run reads."""

from gan_jax.errors import UserError

__all__ = ["process_rows"]


def process_rows(global_batch: int, process_index: int = 0, process_count: int = 1) -> slice:
    """The rows of a global batch that process ``process_index`` feeds: the
    ``process_index``-th of ``process_count`` equal contiguous blocks."""
    if global_batch % process_count:
        raise UserError(f"batch_size={global_batch} does not split over {process_count} processes; "
                        f"set batch_size to a multiple of {process_count}")
    size = global_batch // process_count
    return slice(process_index * size, (process_index + 1) * size)
