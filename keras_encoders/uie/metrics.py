"""Span precision, recall and F1 as PaddleNLP's `SpanEvaluator` counts them.

Pure functions of positions, no model: `span_counts` takes the start and end
positions a model predicted for one row (the positions whose probability
exceeds the limit) and the gold ones, and returns `SpanEvaluator`'s three
counts; `SpanCounts` adds them up and gives `(precision, recall, f1)` with
`SpanEvaluator.accumulate()`'s rules. `type_groups` splits examples by type
as PaddleNLP's `evaluate.py --debug` does.

`SpanEvaluator`'s semantics, kept here on purpose:

- predicted spans are the positions paired as `get_span` pairs them (each
  end takes the last start at or before it that no earlier end took; see
  `pair_positions`); gold positions are paired the same way;
- correct = predicted pairs that are gold pairs; inferred = predicted pairs;
  labelled = the larger of the numbers of distinct gold starts and gold
  ends (not the number of gold pairs: overlapping gold spans of one row
  count once per distinct position);
- precision = correct / inferred (0 without inferred), recall = correct /
  labelled (0 without labelled), F1 = 2PR / (P + R) (0 without correct).
"""

import re

# How a relation prompt joins its subject and relation, per schema language.
RELATION_JOINERS = {"ch": "的", "en": " of "}


def pair_positions(starts, ends):
    """The `(start, end)` pairs `get_span` forms from candidate positions.

    Both lists are sorted; walking them together, a start at or before the
    current end is recorded for that end (a later such start replaces it),
    a start after it moves on to the next end. Starts and ends left without
    a partner are dropped.
    """
    starts, ends = sorted(starts), sorted(ends)
    pairs = {}
    s = e = 0
    while s < len(starts) and e < len(ends):
        if starts[s] <= ends[e]:
            pairs[ends[e]] = starts[s]
            s += 1
            if starts[s - 1] == ends[e]:
                e += 1
        else:
            e += 1
    return {(start, end) for end, start in pairs.items()}


def span_counts(predicted_starts, predicted_ends, gold_starts, gold_ends):
    """`(correct, inferred, labelled)` for one row, as `SpanEvaluator.eval_span`.

    Args:
        predicted_starts, predicted_ends: the positions predicted as span
            starts / ends (e.g. where the probability exceeds 0.5).
        gold_starts, gold_ends: the gold start / end positions (duplicates
            count once, as in the 0/1 vectors `SpanEvaluator` reads).
    """
    gold_starts, gold_ends = set(gold_starts), set(gold_ends)
    predicted = pair_positions(set(predicted_starts), set(predicted_ends))
    gold = pair_positions(gold_starts, gold_ends)
    return len(predicted & gold), len(predicted), max(len(gold_starts), len(gold_ends))


class SpanCounts:
    """Counts summed over rows, and the scores `SpanEvaluator` reports."""

    def __init__(self, correct=0, inferred=0, labelled=0):
        self.correct, self.inferred, self.labelled = correct, inferred, labelled

    def add(self, counts):
        correct, inferred, labelled = counts
        self.correct += correct
        self.inferred += inferred
        self.labelled += labelled
        return self

    def scores(self):
        """`(precision, recall, f1)`, as `SpanEvaluator.accumulate()`."""
        precision = self.correct / self.inferred if self.inferred else 0.0
        recall = self.correct / self.labelled if self.labelled else 0.0
        f1 = 2 * precision * recall / (precision + recall) if self.correct else 0.0
        return float(precision), float(recall), float(f1)

    def as_dict(self):
        precision, recall, f1 = self.scores()
        return {"precision": precision, "recall": recall, "f1": f1, "correct": self.correct,
                "inferred": self.inferred, "labelled": self.labelled}


def unify_prompt_name(prompt):
    """A classification prompt with its options sorted (they are shuffled
    when examples are made), so that one type has one name."""
    match = re.search(r"\[.*?\]$", prompt)
    if not match:
        return prompt
    options = ",".join(sorted(set(match.group()[1:-1].split(","))))
    return prompt[: prompt.find("[", 1)] + "[" + options + "]"


def _relation_type_of(a, b, schema_lang):
    """The relation two relation prompts share ("" if none), as PaddleNLP's
    `get_relation_type_dict` compares them: the common suffix up to "的"
    (Chinese), the common prefix up to " of " (English)."""
    if schema_lang == "ch":
        a, b = a[::-1], b[::-1]
    common = ""
    for x, y in zip(a, b):
        if x != y:
            break
        common += x
    if not common:
        return ""
    if schema_lang == "ch" and common[::-1][0] == "的":
        return common[::-1][1:]
    if schema_lang == "en" and common[-3:] == " of":
        return common[:-3]
    return ""


def type_groups(examples, schema_lang="ch"):
    """Positive examples by type, as PaddleNLP's `evaluate.py --debug`.

    A prompt without the relation joiner ("的" / " of ") is its own type
    (classification options sorted); relation prompts are grouped by the
    relation they share with another prompt, or by their own relation name
    when they share none. Negative examples (no gold span) are left out, as
    there. Returns `{type: [example, ...]}`, entity types first.
    """
    joiner = RELATION_JOINERS[schema_lang]
    groups, relations = {}, []
    for example in examples:
        if not example["result_list"]:
            continue
        if joiner not in example["prompt"]:
            groups.setdefault(unify_prompt_name(example["prompt"]), []).append(example)
        else:
            relations.append(example)
    relation_groups, grouped = {}, []
    for i, example in enumerate(relations):
        prompt = example["prompt"]
        if prompt in grouped:
            continue
        matched = False
        for other in relations[i + 1:]:
            shared = _relation_type_of(prompt, other["prompt"], schema_lang)
            if shared:
                shared = unify_prompt_name(shared)
                if prompt not in grouped:
                    grouped.append(prompt)
                    relation_groups.setdefault(shared, []).append(example)
                grouped.append(other["prompt"])
                relation_groups.setdefault(shared, []).append(other)
                matched = True
        if not matched:
            grouped.append(prompt)
            if schema_lang == "ch":
                name = prompt.rsplit("的", 1)[1]
            else:
                name = prompt.split(" of ", 1)[0]
            relation_groups.setdefault(unify_prompt_name(name), []).append(example)
    for name, members in relation_groups.items():
        groups.setdefault(name, []).extend(members)
    return groups
