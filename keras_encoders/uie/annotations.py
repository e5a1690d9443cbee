"""doccano and Label Studio exports -> UIE training examples, as PaddleNLP 2.8.1.

The examples are PaddleNLP's format, one JSON object per line:
`{"content": text, "result_list": [{"text", "start", "end"}, ...],
"prompt": prompt}`; a classification answer lies in the prompt's options,
with negative offsets counted back from the end of `prompt + " "`.

What is made, as PaddleNLP's `doccano.py` (model_zoo/uie, on its
`utils.convert_ext_examples`) and `label_studio.py` (on
`paddlenlp.utils.tools.DataConverter`) make it:

- an entity example per text and entity label (prompt: the label);
- a relation example per text and relation prompt, "<subject>的<predicate>"
  (`schema_lang="ch"`) or "<predicate> of <subject>" ("en"), answered by
  the objects; events are relations from the trigger;
- an opinion / sentiment example per entity labelled "<label>##<class>"
  (`separator`): prompt "<entity>的<prompt_prefix>[options]" or
  "<prompt_prefix> of <entity>[options]";
- a classification example per text of a classification project, prompt
  "<prompt_prefix>[options]" with the options shuffled each time;
- negatives: entity labels of the set the text lacks and, for relations,
  inverted relations, other entities with the text's predicates and the
  text's subjects with other labels; training samples at most
  `negative_ratio` per positive (a third of it per kind for relations,
  topped up from the rest); dev and test take all relation negatives
  (doccano also all entity negatives; Label Studio samples those as for
  training, as PaddleNLP does).

Randomness follows PaddleNLP's calls one for one (NumPy's legacy generator
for shuffles, Python's `random` for sampling and option order, both seeded
with `seed`), on private generators, so the same seed gives the same files
and the caller's global random state is left alone.

Differences from PaddleNLP are refusals: a malformed file raises
`AnnotationError` naming the line (doccano) or task (Label Studio) and the
field, where PaddleNLP would write wrong examples or fail with a bare
`KeyError`. Image (document) projects are not supported.
"""

import json
import math
import os
import random
from decimal import Decimal

import numpy as np

# Label Studio's converter skips these entity labels (attribute values are
# relation objects only) and never asks for opinion words on their own.
LABEL_STUDIO_SKIPPED_LABELS = ("属性值", "object")
LABEL_STUDIO_UNLISTED_LABELS = ("观点词",)

DEFAULT_OPTIONS = ("正向", "负向")
SCHEMA_LANGS = ("ch", "en")
TASK_TYPES = ("ext", "cls")


class AnnotationError(ValueError):
    """An annotation file that cannot be converted; the message names where."""


# === Reading ===


def _fail(where, message):
    raise AnnotationError(f"{where}: {message}")


def _check_list(value, where, field):
    if not isinstance(value, list):
        _fail(where, f"`{field}` must be a list, got {type(value).__name__}.")
    return value


def _check_object(value, where, field):
    if not isinstance(value, dict):
        _fail(where, f"`{field}` must be a JSON object, got {type(value).__name__}.")
    return value


def _check_id(value, where, field):
    # Ids are compared and hashed: doccano writes integers, Label Studio strings.
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        _fail(where, f"`{field}` must be a string or an integer id, got {value!r}.")


def _check_text(text, where, field):
    if not isinstance(text, str):
        _fail(where, f"`{field}` must be a string, got {type(text).__name__}.")
    if not text.strip():
        _fail(where, f"`{field}` is empty; remove the task or give it its text.")


def _check_entities(text, entities, where):
    """Offsets are integers inside the text, ids unique, and spans of one
    label do not overlap (the pointer decoding cannot answer both)."""
    ids, by_label = set(), {}
    for k, entity in enumerate(_check_list(entities, where, "entities")):
        field = f"entity {k}"
        _check_object(entity, where, field)
        for key in ("id", "start_offset", "end_offset", "label"):
            if key not in entity:
                _fail(where, f"{field} has no `{key}`.")
        _check_id(entity["id"], where, f"{field}.id")
        start, end, label = entity["start_offset"], entity["end_offset"], entity["label"]
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
            _fail(where, f"{field} ({label!r}): offsets must be integers, got {start!r}..{end!r}.")
        if not 0 <= start < end <= len(text):
            _fail(where, f"{field} ({label!r}): offsets {start}..{end} are out of range for "
                         f"a text of {len(text)} characters (need 0 <= start < end <= length).")
        if not isinstance(label, str) or not label:
            _fail(where, f"{field}: `label` must be a non-empty string, got {label!r}.")
        if entity["id"] in ids:
            _fail(where, f"{field}: id {entity['id']!r} is used twice.")
        ids.add(entity["id"])
        for other_start, other_end, other in by_label.get(label, []):
            if start < other_end and other_start < end:
                _fail(where, f"{field} ({label!r}) at {start}..{end} overlaps {other} at "
                             f"{other_start}..{other_end} with the same label; "
                             "spans of one label must not overlap.")
        by_label.setdefault(label, []).append((start, end, field))
    return ids


def _check_relations(relations, ids, where):
    for k, relation in enumerate(_check_list(relations, where, "relations")):
        _check_object(relation, where, f"relation {k}")
        for key in ("from_id", "to_id", "type"):
            if key not in relation:
                _fail(where, f"relation {k} has no `{key}`.")
        for key in ("from_id", "to_id"):
            _check_id(relation[key], where, f"relation {k}.{key}")
            if relation[key] not in ids:
                _fail(where, f"relation {k} ({relation['type']!r}): `{key}` {relation[key]!r} "
                             f"is not the id of an entity of this text (ids: {sorted(map(str, ids))}).")
        if not isinstance(relation["type"], str) or not relation["type"]:
            _fail(where, f"relation {k}: `type` must be a non-empty string, got {relation['type']!r}.")


def _check_choices(labels, where, field):
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        _fail(where, f"`{field}` must be a non-empty list of names (strings), got {labels!r}.")


def _entities_from_triples(triples, where):
    entities = []
    for k, item in enumerate(triples):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            _fail(where, f"label {k} must be [start, end, label], got {item!r}.")
        entities.append({"id": k, "start_offset": item[0], "end_offset": item[1], "label": item[2]})
    return entities


def parse_doccano_line(line, task_type="ext", where="line 1"):
    """One doccano JSONL line as `{"text", "entities", "relations"}` ("ext")
    or `{"text", "labels"}` ("cls"), checked.

    Reads the layouts PaddleNLP reads: `{"text", "entities", "relations"}`
    (relation projects), `{"text", "label": [[start, end, label], ...]}`
    (sequence labelling, doccano >= 1.7) and the older `{"data", "label"}`
    forms; classification lines are `{"text" or "data", "label": [...]}`.
    """
    try:
        items = json.loads(line)
    except json.JSONDecodeError as error:
        _fail(where, f"not a JSON object ({error.msg} at column {error.colno}).")
    if not isinstance(items, dict):
        _fail(where, f"not a JSON object but a {type(items).__name__}.")
    text_key = "data" if "data" in items else "text"
    if text_key not in items:
        _fail(where, "has no `text` (nor `data`) field.")
    text = items[text_key]
    _check_text(text, where, text_key)
    if task_type == "cls":
        if "label" not in items:
            _fail(where, "has no `label` field (a classification line needs its classes).")
        _check_choices(items["label"], where, "label")
        return {"text": text, "labels": list(items["label"]), "where": where}
    label = items.get("label")
    if text_key == "data" and isinstance(label, dict) and "entities" in label:
        entities = list(_check_list(label["entities"], where, "label.entities"))
        relations = list(_check_list(label.get("relations", []), where, "label.relations"))
    elif "label" in items:
        if not isinstance(label, list):
            _fail(where, f"`label` must be a list of [start, end, label], got {label!r}.")
        entities, relations = _entities_from_triples(label, where), []
    else:
        if "entities" not in items:
            _fail(where, "has neither `entities` nor `label`: not a sequence-labelling export.")
        entities, relations = items["entities"], items.get("relations", [])
    ids = _check_entities(text, entities, where)
    _check_relations(relations, ids, where)
    return {"text": text, "entities": entities, "relations": relations, "where": where}


def parse_label_studio_task(task, task_type="ext", where="task 0"):
    """One Label Studio task as `{"text", "entities", "relations"}` or
    `{"text", "labels"}`, checked (text projects; the first annotation)."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        _fail(where, "has no `data` object.")
    if task["data"].get("image"):
        _fail(where, "is an image task; only text projects (`data.text`) are supported.")
    if "text" not in task["data"]:
        _fail(where, "has no `data.text`.")
    text = task["data"]["text"]
    _check_text(text, where, "data.text")
    annotations = task.get("annotations")
    if not isinstance(annotations, list) or not annotations:
        _fail(where, "has no `annotations`; export annotated tasks only.")
    results = _check_object(annotations[0], where, "annotations[0]").get("result")
    if not isinstance(results, list):
        _fail(where, "`annotations[0].result` is missing.")
    for k, result in enumerate(results):
        _check_object(result, where, f"annotations[0].result[{k}]")
    if task_type == "cls":
        value = results[0].get("value", {}) if results else {}
        if "choices" not in _check_object(value, where, "annotations[0].result[0].value"):
            _fail(where, "`annotations[0].result[0].value.choices` is missing (a classification task).")
        _check_choices(value["choices"], where, "annotations[0].result[0].value.choices")
        return {"text": text, "labels": list(value["choices"]), "where": where}
    entities, relations = [], []
    for k, result in enumerate(results):
        field = f"annotations[0].result[{k}]"
        if result.get("type") == "labels":
            value = _check_object(result.get("value", {}), where, f"{field}.value")
            labels = value.get("labels")
            if not labels:
                _fail(where, f"{field}.value.labels is empty.")
            _check_choices(labels, where, f"{field}.value.labels")
            if "id" not in result:
                _fail(where, f"{field} has no `id`.")
            entities.append({"id": result["id"], "start_offset": value.get("start"),
                             "end_offset": value.get("end"), "label": labels[0]})
        else:
            for key in ("from_id", "to_id"):
                if key not in result:
                    _fail(where, f"{field} is neither a `labels` span nor a relation (no `{key}`).")
            if not result.get("labels"):
                _fail(where, f"{field}: the relation from {result['from_id']!r} to "
                             f"{result['to_id']!r} has no `labels`; give it a relation type.")
            _check_choices(result["labels"], where, f"{field}.labels")
            for key in ("from_id", "to_id"):
                _check_id(result[key], where, f"{field}.{key}")
            relations.append({"id": f"{result['from_id']}-{result['to_id']}", "from_id": result["from_id"],
                              "to_id": result["to_id"], "type": result["labels"][0]})
    ids = _check_entities(text, entities, where)
    _check_relations(relations, ids, where)
    return {"text": text, "entities": entities, "relations": relations, "where": where}


def read_doccano(path, task_type="ext"):
    """The checked records of a doccano JSONL export, in file order."""
    _check_task_type(task_type)
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    return [parse_doccano_line(line, task_type, f"{path}, line {n}") for n, line in enumerate(lines, 1)]


def read_label_studio(path, task_type="ext"):
    """The checked records of a Label Studio JSON export, in file order."""
    _check_task_type(task_type)
    with open(path, encoding="utf-8") as f:
        try:
            tasks = json.load(f)
        except json.JSONDecodeError as error:
            raise AnnotationError(f"{path}: not JSON ({error.msg} at line {error.lineno}).") from None
    if not isinstance(tasks, list):
        raise AnnotationError(f"{path}: a Label Studio JSON export is a list of tasks.")
    return [parse_label_studio_task(task, task_type, f"{path}, task {k} (id {task.get('id')})"
                                    if isinstance(task, dict) else f"{path}, task {k}")
            for k, task in enumerate(tasks)]


# === Converting ===


class ExampleMaker:
    """PaddleNLP's example construction, with one random state for a run.

    `options` is one list, shuffled in place each time a classification
    prompt is made, as PaddleNLP shuffles its `options` argument: the order
    carries over from one prompt (and one split) to the next.
    """

    def __init__(self, rng, prompt_prefix="情感倾向", options=DEFAULT_OPTIONS, separator="##",
                 schema_lang="ch", skipped_labels=(), unlisted_labels=()):
        # "zh" as `extract()` spells it.
        schema_lang = {"zh": "ch"}.get(schema_lang, schema_lang)
        if schema_lang not in SCHEMA_LANGS:
            raise ValueError(f"`schema_lang` must be one of {SCHEMA_LANGS}, got {schema_lang!r}.")
        self.rng = rng
        self.prompt_prefix = prompt_prefix
        self.options = list(options)
        self.separator = separator
        self.schema_lang = schema_lang
        self.skipped_labels = tuple(skipped_labels)
        self.unlisted_labels = tuple(unlisted_labels)

    def relation_prompt(self, subject, predicate):
        if self.schema_lang == "ch":
            return subject + "的" + predicate
        return predicate + " of " + subject

    def classification_example(self, text, labels, prefix, where="an example"):
        self.rng.shuffle(self.options)
        prompt = prefix + "[" + ",".join(self.options) + "]"
        result_list = []
        for label in labels:
            if label not in self.options:
                raise AnnotationError(
                    f"{where}: class {label!r} is not one of the options {self.options}; "
                    "pass every class with `options`."
                )
            # Offsets into the prompt, counted back from the end of `prompt + " "`.
            start = prompt.rfind(label) - len(prompt) - 1
            result_list.append({"text": label, "start": start, "end": start + len(label)})
        return {"content": text, "result_list": result_list, "prompt": prompt}

    def classification_examples(self, records):
        return [self.classification_example(r["text"], r["labels"], self.prompt_prefix, r.get("where", "an example"))
                for r in records]

    def extraction_examples(self, records, negative_ratio, is_train=True):
        """Entity examples (positives, then negatives), relation examples,
        then opinion classification examples."""
        texts, entity_examples, relation_examples, opinion_examples = [], [], [], []
        label_set, name_set, predicate_set = [], [], []
        entity_prompts, relation_prompts, subjects, inverses, predicates = [], [], [], [], []
        for record in records:
            text = record["text"]
            texts.append(text)
            by_label, names, prompts_of_text = {}, {}, []
            for entity in record["entities"]:
                start, end = entity["start_offset"], entity["end_offset"]
                name = text[start:end]
                names[entity["id"]] = (name, start, end)
                if entity["label"] in self.skipped_labels:
                    continue
                label, *classes = entity["label"].split(self.separator)
                if classes:
                    if self.schema_lang == "ch":
                        prefix = name + "的" + self.prompt_prefix
                    else:
                        prefix = self.prompt_prefix + " of " + name
                    opinion_examples.append(self.classification_example(text, classes, prefix, record.get("where", "an example")))
                result = {"text": name, "start": start, "end": end}
                if label in by_label:
                    by_label[label]["result_list"].append(result)
                else:
                    by_label[label] = {"content": text, "result_list": [result], "prompt": label}
                if label not in label_set and label not in self.unlisted_labels:
                    label_set.append(label)
                if name not in name_set:
                    name_set.append(name)
                prompts_of_text.append(label)
            entity_examples.append(list(by_label.values()))
            entity_prompts.append(prompts_of_text)

            by_prompt, text_subjects, text_inverses, text_predicates, text_prompts = {}, [], [], [], []
            for relation in record["relations"]:
                predicate = relation["type"]
                subject, object_ = names[relation["from_id"]], names[relation["to_id"]]
                prompt = self.relation_prompt(subject[0], predicate)
                if subject[0] not in text_subjects:
                    text_subjects.append(subject[0])
                text_inverses.append(self.relation_prompt(object_[0], predicate))
                text_predicates.append(predicate)
                result = {"text": object_[0], "start": object_[1], "end": object_[2]}
                if prompt in by_prompt:
                    by_prompt[prompt]["result_list"].append(result)
                else:
                    by_prompt[prompt] = {"content": text, "result_list": [result], "prompt": prompt}
                if predicate not in predicate_set:
                    predicate_set.append(predicate)
                text_prompts.append(prompt)
            relation_examples.append(list(by_prompt.values()))
            relation_prompts.append(text_prompts)
            subjects.append(text_subjects)
            inverses.append(text_inverses)
            predicates.append(text_predicates)

        positives, negatives = [], []
        for i, prompts_of_text in enumerate(entity_prompts):
            # Symmetric difference, as PaddleNLP: a label of the text that is
            # not in the label set (an unlisted one) becomes a negative too.
            missing = sorted(set(label_set) ^ set(prompts_of_text))
            chosen = self._sample(len(missing), len(entity_examples[i]), negative_ratio)
            negatives += [_negative(texts[i], missing[k]) for k in chosen]
            positives += entity_examples[i]
        entities = positives + negatives if positives else []

        relations = []
        if predicate_set and is_train:
            positives, negatives = [], []
            for i, text in enumerate(texts):
                count = len(relation_examples[i])
                kinds = [inverses[i], [], []]
                if predicates[i]:
                    others = sorted(set(name_set) ^ set(subjects[i]))
                    kinds[1] = [self.relation_prompt(other, predicates[i][self.rng.randrange(len(predicates[i]))])
                                for other in others]
                if subjects[i]:
                    other_labels = sorted(set(label_set) ^ set(entity_prompts[i]))
                    kinds[2] = [self.relation_prompt(subjects[i][self.rng.randrange(len(subjects[i]))], label)
                                for label in other_labels]
                added, rest = [], []
                for prompts_of_kind in kinds:
                    chosen = self._sample(len(prompts_of_kind), count, negative_ratio // 3)
                    added += [_negative(text, prompts_of_kind[k]) for k in chosen]
                    # The unchosen ones, in index order, to top up from.
                    rest += [_negative(text, prompts_of_kind[k])
                             for k in sorted(set(range(len(prompts_of_kind))) - set(chosen))]
                wanted = count * negative_ratio - len(added)
                if wanted > 0 and rest:
                    picks = range(len(rest)) if wanted > len(rest) else self.rng.sample(range(len(rest)), wanted)
                    added += [rest[k] for k in picks]
                positives += relation_examples[i]
                negatives += added
            relations = positives + negatives
        elif predicate_set:
            for i, text in enumerate(texts):
                relations += relation_examples[i]
                relations += [
                    _negative(text, prompt)
                    for prompt in (self.relation_prompt(s, p) for s in subjects[i] for p in predicate_set)
                    if prompt not in relation_prompts[i]
                ]
        return entities + relations + opinion_examples

    def _sample(self, available, positives, ratio):
        """Indices of the negatives kept: all of them when there are at most
        `ratio` per positive (or `ratio` is -1), else `ratio * positives`
        sampled. A text without positives keeps all."""
        if positives:
            needed = math.ceil(available / positives)
        else:
            positives, needed = 1, 0
        if needed <= ratio or ratio == -1:
            return list(range(available))
        return self.rng.sample(range(available), ratio * positives)


def _negative(text, prompt):
    return {"content": text, "result_list": [], "prompt": prompt}


# === Whole runs (the command-line flows) ===


def _check_task_type(task_type):
    if task_type not in TASK_TYPES:
        raise ValueError(f"`task_type` must be one of {TASK_TYPES}, got {task_type!r}.")


def _check_splits(splits):
    splits = list(splits)
    if len(splits) not in (0, 3):
        raise ValueError(f"`splits` must be [] or three ratios (train, dev, test); got {splits}.")
    if splits and sum(Decimal(str(s)) for s in splits) != Decimal("1"):
        raise ValueError(f"The three `splits` must add up to 1; got {splits}.")
    return splits


def _split_points(count, splits):
    return int(count * splits[0]), int(count * (splits[0] + splits[1]))


def convert_doccano(doccano_file, negative_ratio=5, splits=(0.8, 0.1, 0.1), task_type="ext",
                    options=DEFAULT_OPTIONS, prompt_prefix="情感倾向", is_shuffle=True, seed=1000,
                    separator="##", schema_lang="ch", save_dir=None):
    """A doccano export as PaddleNLP's `doccano.py` converts it.

    Args mirror `doccano.py`'s flags. With three `splits`, the records
    (shuffled first when `is_shuffle`) are cut into train, dev and test;
    training examples take `negative_ratio`, dev and test all negatives;
    extraction training examples are shuffled again after conversion. With
    `splits=[]` everything is training data (shuffled when `is_shuffle`).

    Returns `{"train": [...], "dev": [...], "test": [...]}` (only "train"
    without splits) and, with `save_dir`, writes `train.txt`, `dev.txt`,
    `test.txt` and `sample_index.json` there.
    """
    _check_task_type(task_type)
    splits = _check_splits(splits)
    records = read_doccano(doccano_file, task_type)
    rng, shuffler = random.Random(seed), np.random.RandomState(seed)
    maker = ExampleMaker(rng, prompt_prefix, options, separator, schema_lang)

    def make(part, ratio, is_train, shuffle):
        if task_type == "cls":
            examples = maker.classification_examples(part)
        else:
            examples = maker.extraction_examples(part, ratio, is_train)
        if shuffle:
            examples = [examples[k] for k in shuffler.permutation(len(examples))]
        return examples

    if not splits:
        result = {"train": make(records, negative_ratio, True, is_shuffle)}
        index = None
    else:
        order = shuffler.permutation(len(records)).tolist() if is_shuffle else list(range(len(records)))
        records = [records[k] for k in order]
        p1, p2 = _split_points(len(records), splits)
        index = {"train_ids": order[:p1], "dev_ids": order[p1:p2], "test_ids": order[p2:]}
        result = {
            # Only extraction training examples are shuffled after conversion.
            "train": make(records[:p1], negative_ratio, True, is_shuffle and task_type == "ext"),
            "dev": make(records[p1:p2], -1, False, False),
            "test": make(records[p2:], -1, False, False),
        }
    if save_dir is not None:
        save_examples(result, save_dir, index)
    return result


def convert_label_studio(label_studio_file, negative_ratio=5, splits=(0.8, 0.1, 0.1), task_type="ext",
                         options=DEFAULT_OPTIONS, prompt_prefix="情感倾向", is_shuffle=True, seed=1000,
                         separator="##", schema_lang="ch", save_dir=None):
    """A Label Studio JSON export as PaddleNLP's `label_studio.py` converts it.

    As `convert_doccano`, with Label Studio's differences: examples are not
    shuffled after conversion; dev and test entity negatives are sampled with
    `negative_ratio` (relation negatives are all kept); the labels "属性值"
    and "object" make no entity examples and "观点词" (opinion words) joins
    no negative label set. (PaddleNLP fails without shuffling or splits;
    here records keep their order, or all go to training.)
    """
    _check_task_type(task_type)
    splits = _check_splits(splits)
    records = read_label_studio(label_studio_file, task_type)
    rng, shuffler = random.Random(seed), np.random.RandomState(seed)
    maker = ExampleMaker(rng, prompt_prefix, options, separator, schema_lang,
                         LABEL_STUDIO_SKIPPED_LABELS, LABEL_STUDIO_UNLISTED_LABELS)
    order = shuffler.permutation(len(records)).tolist() if is_shuffle else list(range(len(records)))
    records = [records[k] for k in order]
    p1, p2 = _split_points(len(records), splits) if splits else (len(records), len(records))

    def make(part, is_train):
        if task_type == "cls":
            return maker.classification_examples(part)
        return maker.extraction_examples(part, negative_ratio, is_train)

    result = {"train": make(records[:p1], True)}
    index = None
    if splits:
        result["dev"] = make(records[p1:p2], False)
        result["test"] = make(records[p2:], False)
        index = {"train_ids": order[:p1], "dev_ids": order[p1:p2], "test_ids": order[p2:]}
    if save_dir is not None:
        save_examples(result, save_dir, index)
    return result


def save_examples(splits, save_dir, sample_index=None):
    """Write `{name}.txt` per split (one JSON object a line, as PaddleNLP
    writes them) and `sample_index.json`; returns the paths written."""
    os.makedirs(save_dir, exist_ok=True)
    paths = []
    for name, examples in splits.items():
        path = os.path.join(save_dir, f"{name}.txt")
        with open(path, "w", encoding="utf-8") as f:
            for example in examples:
                f.write(json.dumps(example, ensure_ascii=False) + "\n")
        paths.append(path)
    if sample_index is not None:
        path = os.path.join(save_dir, "sample_index.json")
        with open(path, "w") as f:
            f.write(json.dumps(sample_index))
        paths.append(path)
    return paths


def check_example(example, where):
    """Raise `AnnotationError` naming `where` and the field unless `example`
    is one in PaddleNLP's format whose spans are where their `text` is."""
    if not isinstance(example, dict):
        _fail(where, f"not a JSON object but a {type(example).__name__}: not an example in PaddleNLP's format.")
    for key in ("content", "result_list", "prompt"):
        if key not in example:
            _fail(where, f"has no `{key}`: not an example in PaddleNLP's format.")
    content, prompt, results = example["content"], example["prompt"], example["result_list"]
    for key, value in (("content", content), ("prompt", prompt)):
        if not isinstance(value, str):
            _fail(where, f"`{key}` must be a string, got {type(value).__name__}.")
    if not prompt:
        _fail(where, "`prompt` is empty; every example asks a prompt.")
    if not isinstance(results, list):
        _fail(where, f"`result_list` must be a list of spans, got {type(results).__name__}.")
    for k, result in enumerate(results):
        if not isinstance(result, dict) or not all(key in result for key in ("start", "end")):
            _fail(where, f"result_list[{k}] has no `start`/`end`.")
        start, end = result["start"], result["end"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            _fail(where, f"result_list[{k}]: offsets must be integers, got {start!r}..{end!r}.")
        in_text = 0 <= start < end <= len(content)
        in_prompt = -len(prompt) - 1 <= start < end <= -1
        if not (in_text or in_prompt):
            _fail(where, f"result_list[{k}]: offsets {start}..{end} lie neither in the "
                         "content nor in the prompt's options.")
        # A prompt (classification) span counts back from the end of `prompt + " "`.
        source = content if in_text else prompt + " "
        if "text" in result and source[start:end] != result["text"]:
            field = "content" if in_text else "prompt"
            _fail(where, f"result_list[{k}]: `text` {result['text']!r} is not the {field}'s "
                         f"characters {start}..{end} ({source[start:end]!r}); fix the offsets.")


def read_examples(path):
    """Examples in PaddleNLP's format (a `train.txt` / `dev.txt`), checked."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no such file. Examples are read from a file in PaddleNLP's format (one JSON "
            "object per line with `content`, `result_list` and `prompt`), as `keras-encoders-uie "
            "doccano` and PaddleNLP's doccano.py write them.")
    examples = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {n}"
            try:
                example = json.loads(line)
            except json.JSONDecodeError as error:
                _fail(where, f"not a JSON object ({error.msg} at column {error.colno}).")
            check_example(example, where)
            examples.append(example)
    return examples
