"""The README's table of presets, generated from the catalogue.

    python -m keras_encoders.presets.table            # rewrite the table in README.md
    python -m keras_encoders.presets.table --check    # exit 1 if it is out of date

The table sits between `BEGIN` and `END` in the README; nothing else there
is touched.
"""

import argparse
import os
import sys

from keras_encoders.presets import catalogue

BEGIN = "<!-- presets table: generated from presets/*.json by `python -m keras_encoders.presets.table`; do not edit by hand -->"
END = "<!-- end of presets table -->"


def _source_cell(entry):
    source = catalogue.automatic_source(entry)
    if source.get("handle"):
        repo = source["handle"][len("hf://"):]
        cell = f"[`{source['handle']}`](https://huggingface.co/{repo})"
    else:
        weights = next(spec["url"] for name, spec in source["files"].items() if name.endswith(".pdparams"))
        cell = f"PaddleNLP [`{weights.split('/')[-1]}`]({weights})"
    originals = [s for s in entry["sources"] if s is not source and s.get("release")]
    if originals:
        links = ", ".join(f"[{s['format']}]({s['release']})" for s in originals)
        cell += f"; original: {links}"
    return cell


def _params_cell(entry):
    cell = f"{entry['params']:,}"
    if entry.get("task_params"):
        cell += f" ({entry['task_params']:,} with the {entry['task_class']} head)"
    return cell


def markdown_table(entries=None):
    """The presets table (markdown), one row per catalogue entry."""
    if entries is None:
        entries = {name: catalogue.get_entry(name) for name in catalogue.list_presets()}
    rows = [
        "| preset | model | parameters | description | source | license |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in entries.items():
        cells = [
            f"`{name}`",
            entry["model"],
            _params_cell(entry),
            entry["description"].replace("|", "\\|"),
            _source_cell(entry),
            entry["license"],
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render(text, table=None):
    """`text` (a README) with the table between the markers replaced."""
    if BEGIN not in text or END not in text:
        raise ValueError(
            f"The README has no presets table markers; add the lines\n{BEGIN}\n{END}\n"
            "where the table belongs."
        )
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table or markdown_table()}\n{END}{tail}"


def readme_path():
    return os.path.join(os.path.dirname(catalogue.catalogue_dir()), "README.md")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", nargs="?", default="README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is out of date")
    args = parser.parse_args(argv)
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    updated = render(text)
    if args.check:
        if updated != text:
            print(f"{args.readme}: the presets table is out of date; run python -m keras_encoders.presets.table")
            return 1
        return 0
    if updated != text:
        with open(args.readme, "w", encoding="utf-8") as f:
            f.write(updated)
        print(f"Updated the presets table in {args.readme}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
