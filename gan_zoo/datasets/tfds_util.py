"""Getting a tensorflow_datasets builder whose data is present, or one clear error."""

from __future__ import annotations

import socket

from gan_zoo.errors import UserError


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """A quick connect test: offline, tfds retries for minutes before failing."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def prepared_builder(name: str, data_dir: str, host: str, how_to: str):
    """The tfds builder of ``name`` with its data present, downloading it if need be.

    Args:
      name: the tfds dataset name, e.g. "mnist".
      data_dir: tfds data directory ("" for tfds' default).
      host: where tfds downloads it from, probed before trying.
      how_to: the end of the error message: how the user can get the data.

    Raises:
      UserError: tfds missing, data absent and no network, or download failed.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise UserError(
            f"--dataset={name} needs tensorflow_datasets, which is not installed "
            f"(pip install tensorflow-datasets); or {how_to}."
        ) from None
    builder = tfds.builder(name, data_dir=data_dir or None)
    if _is_prepared(builder):
        return builder
    if not reachable(host):
        where = f"in --data_dir={data_dir}" if data_dir else "(no --data_dir given)"
        raise UserError(
            f"{name} not found {where} and there is no network to download it; {how_to}."
        )
    try:
        builder.download_and_prepare()
    except Exception as e:  # noqa: BLE001 - any download failure means the same to the user
        detail = (str(e).splitlines() or [""])[0][:200]  # the message must stay one line
        raise UserError(
            f"downloading {name} through tfds failed ({type(e).__name__}: {detail}); {how_to}."
        ) from None
    return builder


def _is_prepared(builder) -> bool:
    from absl import logging

    # tfds warns that the version folder it looks for is missing, beside the
    # one-line error that says so and what to do.
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        if builder.is_prepared():
            return True
    finally:
        logging.set_verbosity(verbosity)
    # tfds.testing.mock_data fakes as_dataset but not is_prepared; asking for
    # a dataset answers for both (it reads nothing yet).
    try:
        builder.as_dataset(split="train")
    except AssertionError:  # how tfds says "not prepared"
        return False
    return True
