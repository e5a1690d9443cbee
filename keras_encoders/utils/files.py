"""Reading small files that come from outside (checkpoints, presets) safely.

Standard library only, so that every layer, the checkpoint readers included,
can use it.
"""

import json
import os
import stat

# A configuration file (config.json, tokenizer_config.json, a shard index, a
# Keras preset's JSON): kilobytes; a large model's shard index, hundreds.
MAX_JSON_BYTES = 64 * 2**20


def read_bounded_file(path, what, limit, error=ValueError):
    """The bytes of a small file, which must be a regular file of at most
    `limit` bytes; `error` otherwise.

    A device (`/dev/zero`, or a link to it), a pipe or a folder would
    otherwise be read until memory runs out, or block; the size is checked
    before reading, and a file that grows meanwhile is refused too.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"The {what} {path} does not exist.")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise error(f"The {what} {path} is not a regular file (a device, pipe or folder?).")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        # `read(n)` allocates n bytes first: ask for what the file holds.
        data = f.read(size + 1) if size <= limit else None
    if data is None or len(data) > size:
        raise error(
            f"The {what} {path} holds {size:,} bytes or more, over the {limit:,} "
            f"such a file may have (or it grew while read); it is not a {what}."
        )
    return data


def read_json_file(path, what="JSON file", error=ValueError, limit=MAX_JSON_BYTES):
    """The contents of a small JSON file, read as `read_bounded_file` reads;
    text that is not JSON (or nests deeper than Python's parser goes) is
    `error`, naming the file."""
    data = read_bounded_file(path, what, limit, error)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        # RecursionError: arrays nested thousands deep.
        raise error(f"{path} is not valid JSON: {e}") from None
