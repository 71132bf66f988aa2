"""The storage server of tests/test_gcs.py: ``gcp-storage-emulator`` (from PyPI) with two gaps filled.

Run as ``python tests/gcs_emulator.py start --host=127.0.0.1 --port=N --in-memory
--default-bucket=B`` (the emulator's own command line). Two things Cloud Storage
does and the emulator (2026.7.19) does not, both of which the code under test
relies on, are added here before its request table is built:

- downloads carry the object's generation in ``x-goog-generation`` (tensorstore,
  orbax's array store, reads it; without it a re-read of a checkpoint's manifest
  fails with "Malformed StorageGeneration");
- the preconditions ``ifGenerationMatch`` (uploads with the name in the query,
  downloads, metadata reads, patches and deletes; 0 means "does not exist") and
  ``ifGenerationNotMatch`` (downloads: 304 Not Modified) are honoured, as
  tensorstore's manifest writes and gan_jax's lock on a run directory expect.
"""

import sys
from http import HTTPStatus

from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects


def _generation(storage, bucket: str, name: str):
    try:
        return str(storage.get_file_obj(bucket, name)["generation"])
    except NotFound:
        return None


def _query(request, key: str):
    values = request.query.get(key)
    return values[0] if values else None


def _precondition_failed(request, storage, name: str) -> bool:
    """Whether ``ifGenerationMatch`` fails for object ``name`` (then the reply is 412)."""
    wanted = _query(request, "ifGenerationMatch")
    if wanted is None or name is None:
        return False
    current = _generation(storage, request.params["bucket_name"], name)
    return (current is not None) if wanted == "0" else (current != wanted)


def _refuse(response) -> None:
    response.status = HTTPStatus.PRECONDITION_FAILED
    response.json({"error": {"code": 412, "message": "Precondition Failed"}})


def _checked(handler, name_of):
    def wrapped(request, response, storage, *args, **kwargs):
        if _precondition_failed(request, storage, name_of(request)):
            return _refuse(response)
        return handler(request, response, storage, *args, **kwargs)
    return wrapped


def _object_id(request):
    return request.params.get("object_id")


_original_download = objects.download


def download(request, response, storage, *args, **kwargs):
    """The emulator's download with the generation headers and both preconditions."""
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    current = _generation(storage, bucket, name)
    if _precondition_failed(request, storage, name):
        return _refuse(response)
    if current is not None and _query(request, "ifGenerationNotMatch") == current:
        response.status = HTTPStatus.NOT_MODIFIED
        return None
    if current is not None:
        response["x-goog-generation"] = current
        response["x-goog-metageneration"] = str(storage.get_file_obj(bucket, name).get("metageneration", "1"))
    return _original_download(request, response, storage, *args, **kwargs)


_original_get = objects.get


def get(request, response, storage, *args, **kwargs):
    if _query(request, "alt") == "media":
        return download(request, response, storage, *args, **kwargs)
    return _checked(_original_get, _object_id)(request, response, storage, *args, **kwargs)


objects.download = download
objects.get = get
objects.delete = _checked(objects.delete, _object_id)
objects.patch = _checked(objects.patch, _object_id)
objects.insert = _checked(objects.insert, lambda request: _query(request, "name"))

from gcp_storage_emulator.__main__ import main  # noqa: E402 (builds its request table from the above)

if __name__ == "__main__":
    sys.exit(main())
