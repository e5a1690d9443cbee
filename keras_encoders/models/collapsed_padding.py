"""Rows padded with attended, identical `[PAD]` tokens, computed from one pad.

In PaddleNLP's UIE-M convention every row is padded to `max_seq_len` and
every `[PAD]` is attended. The pads of a row share their token id and (with
`pad_position_id` set) their position, and ERNIE-M has no segment input, so
they hold identical states in every layer: as queries they see the same
keys, and as keys they are copies of one key. A row is therefore computed
exactly from its real tokens plus ONE pad column whose `padding_mask` value
counts the pads it stands for (the attention adds log(count) to its logits:
`multi_head_self_attention.key_bias`). A batch is cut to its longest real
row plus that column, and the pad column's outputs are copied back to every
pad position.
"""

import numpy as np


def real_lengths(token_ids, pad_token_id):
    """Per row, the index after its last non-pad token (the pads after it
    are the row's trailing padding)."""
    token_ids = np.asarray(token_ids)
    is_real = token_ids != pad_token_id
    width = token_ids.shape[1]
    last = width - np.argmax(is_real[:, ::-1], axis=1)
    return np.where(is_real.any(axis=1), last, 0).astype("int32")


def collapse(inputs, pad_token_id, lengths=None, width=None):
    """`inputs` cut to `width` columns, each row's trailing pads counted in
    its first pad column; None when that would not shorten the rows.

    Args:
        inputs: dict of `(B, L)` numpy arrays with `token_ids` and
            `padding_mask` (0/1 values); other arrays are cut the same way.
        pad_token_id: the id of `[PAD]`.
        lengths: `real_lengths(...)` of the rows, if already known.
        width: columns to keep (default: the longest real row + 1); must
            leave every row with padding at least one pad column.

    Returns:
        `(collapsed inputs, lengths)`, where row `i`'s column `lengths[i]`
        holds the sum of its trailing `padding_mask` values (the pads it
        stands for) and later columns are masked; or None.
    """
    ids, mask = np.asarray(inputs["token_ids"]), np.asarray(inputs["padding_mask"])
    full = ids.shape[1]
    if lengths is None:
        lengths = real_lengths(ids, pad_token_id)
    needed = int(np.max(np.minimum(lengths + 1, full), initial=0))
    width = needed if width is None else int(width)
    if width >= full:
        return None
    if width < needed:
        raise ValueError(f"width={width} cuts real tokens: the rows need {needed} columns.")
    out = {name: np.asarray(value)[:, :width] for name, value in inputs.items()}
    # (Every row has trailing pads here: `lengths < width < full`.)
    counts = np.where(np.arange(full) >= lengths[:, None], mask, 0).sum(axis=1)
    columns, at = np.arange(width)[None, :], lengths[:, None]
    collapsed = np.where(columns < at, out["padding_mask"], 0)
    collapsed = np.where(columns == at, counts[:, None], collapsed).astype("int32")
    out["padding_mask"] = collapsed
    return out, lengths


def expand(values, lengths, full_width):
    """`(B, width, ...)` outputs of collapsed rows at all `full_width`
    positions: every trailing pad takes its row's pad column."""
    values = np.asarray(values)
    index = np.minimum(np.arange(full_width)[None, :], np.asarray(lengths)[:, None])
    index = index.reshape(index.shape + (1,) * (values.ndim - 2))
    return np.take_along_axis(values, index, axis=1)
