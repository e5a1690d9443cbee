"""UIE windowing and joining in TF ops (`decoding.information_extraction`),
which `extract()` and the exported SavedModel share, against the plain
Python rules they implement (Taskflow's), on many random cases."""

import random

import numpy as np
import pytest
import tensorflow as tf

from keras_encoders.decoding import information_extraction as uie

# Decoding is NumPy and TensorFlow, the same under every backend.
pytestmark = pytest.mark.backend_independent


def longest_first_loop(p, t, budget):
    """Taskflow's truncation as it runs: one token at a time from the end of
    the longer of the two, the second on a tie."""
    while p + t > budget:
        if p > t:
            p -= 1
        else:
            t -= 1
    return p, t


def test_longest_first_closed_form_is_the_loop():
    cases = [(p, t, b) for p in range(12) for t in range(12) for b in range(0, 26)]
    p, t, b = (np.array(x, "int32") for x in zip(*cases))
    kept_p, kept_t = uie.longest_first(tf.constant(p), tf.constant(t), tf.constant(b))
    want = np.array([longest_first_loop(*case) for case in cases])
    np.testing.assert_array_equal(np.stack([kept_p, kept_t], 1), want)


def test_blank_texts_are_those_python_strips_empty():
    whitespace = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert uie.WHITESPACE == whitespace  # the Unicode tables of this Python
    rng = random.Random(0)
    alphabet = list(whitespace) + ["", "a", "\u200b", "\ufeff", "好", "\x00"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))) for _ in range(400)]
    assert uie.blank_texts(texts).numpy().tolist() == [not t.strip() for t in texts]


@pytest.mark.parametrize("seed", range(3))
def test_largest_prompt_is_pythons_max(seed):
    rng = random.Random(seed)
    alphabet = ["a", "b", "ab", "的", "籍", "情感", "é", "\U0001F600", "[", " "]
    for _ in range(40):
        prompts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
                   for _ in range(rng.randint(1, 6))]
        assert int(uie.largest_string_length(tf.constant(prompts))) == len(max(prompts)), prompts
    # The largest prompt ("c的"), not the longest, sizes Taskflow's windows.
    sizes = uie.window_lengths(["abc", "b", "c的"], 20, "taskflow", 4)
    assert sizes.numpy().tolist() == [20 - 2 - 3] * 3
    sizes = uie.window_lengths(["abc", "b", "c的"], 20, "taskflow_corrected", 4)
    assert sizes.numpy().tolist() == [13, 15, 14]
    with pytest.raises(ValueError, match="tokens"):
        uie.window_lengths(["ab"], 20, "tokens", 4)


def join_reference(window_spans, window_offsets):
    """Taskflow's `_auto_joiner`, in plain Python (what `join_windows` was)."""
    first = next((spans for windows in window_spans for spans in windows if spans), None)
    classification = first is not None and "start" not in first[0]
    joined = []
    for windows, offsets in zip(window_spans, window_offsets):
        if classification:
            votes = {}
            for spans in windows:
                if spans:
                    count, total = votes.get(spans[0]["text"], (0, 0.0))
                    votes[spans[0]["text"]] = (count + 1, total + spans[0]["probability"])
            if votes:
                text, (count, total) = max(votes.items(), key=lambda item: item[1])
                joined.append([{"text": text, "probability": total / count}])
            else:
                joined.append([])
            continue
        found = []
        for spans, offset in zip(windows, offsets):
            for span in spans:
                span = dict(span)
                if "start" in span:
                    span["start"] += offset
                    span["end"] += offset
                found.append(span)
        joined.append(found)
    return joined


@pytest.mark.parametrize("seed", range(4))
def test_join_windows_is_taskflows_joiner(seed):
    rng = random.Random(seed)
    for trial in range(25):
        rows = rng.randint(1, 4)
        counts = [rng.randint(1, 3) for _ in range(rows)]
        prompt = rng.choice(["情感倾向[正向,负向]", "ab[x,y]"])
        window_text, window_row, window_offset, spans, python = [], [], [], [], []
        # Few distinct probabilities: ties in the vote's counts and sums.
        probabilities = [0.5, 0.75, 0.625]
        for r, count in enumerate(counts):
            python.append([])
            for w in range(count):
                text = "".join(rng.choice("正负向xy") for _ in range(rng.randint(0, 6)))
                window_text.append(text)
                window_row.append(r)
                window_offset.append(w * 6)
                found, mine = [], []
                for _ in range(rng.choice([0, 0, 1, 2, 3])):
                    in_prompt = rng.random() < (0.7 if trial % 2 else 0.2)
                    source = prompt if in_prompt else text
                    a = rng.randint(-3, len(source))
                    b = rng.randint(a if a >= 0 else -3, len(source) + 1)
                    p = rng.choice(probabilities)
                    mine.append((a, b, in_prompt, p))
                    if in_prompt:
                        found.append({"text": source[a:b], "probability": p})
                    else:
                        found.append({"text": source[a:b], "start": a, "end": b, "probability": p})
                spans.append(mine)
                python[r].append(found)
        offsets = [[o for o, row in zip(window_offset, window_row) if row == r] for r in range(rows)]
        want = join_reference(python, offsets)

        def ragged(index, dtype):
            return tf.ragged.constant([[s[index] for s in w] for w in spans], dtype, ragged_rank=1)

        decoded = {"start": ragged(0, tf.int32), "end": ragged(1, tf.int32),
                   "in_prompt": ragged(2, tf.bool), "probability": ragged(3, tf.float64)}
        joined = uie.join_windows(decoded, window_row, window_offset, tf.constant(window_text, tf.string),
                                  tf.constant([prompt] * len(window_text)), rows)
        joined = {k: v.to_list() for k, v in joined.items()}
        got = []
        for r in range(rows):
            got.append([
                {"text": text.decode(), "probability": p} if voted or in_prompt else
                {"text": text.decode(), "start": a, "end": b, "probability": p}
                for text, a, b, in_prompt, p, voted in zip(*(joined[k][r] for k in (
                    "text", "start", "end", "in_prompt", "probability", "voted")))
            ])
        assert got == want, (seed, trial)
