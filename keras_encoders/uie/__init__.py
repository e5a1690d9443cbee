"""UIE data: annotations in, span evaluation, in PaddleNLP's example format.

- `convert_doccano`, `convert_label_studio`: annotation exports -> training
  examples (`{"content", "result_list", "prompt"}`), as PaddleNLP 2.8.1's
  `doccano.py` / `label_studio.py` make them, seeded identically.
- `span_counts`, `SpanCounts`, `type_groups`: precision, recall and F1 with
  `paddlenlp.metrics.SpanEvaluator`'s semantics, overall and per type.
- `evaluate`: those scores for an `InformationExtractor` on an example file.
- `training_data`: `(x, y)` for `fit` from such a file, in `extract()`'s windows;
  importing this package registers it with the models, so that
  `extractor.fit("train.txt", validation_data="dev.txt")` reads the files
  as they are (and `keras_encoders` imports it).
- The `keras-encoders-uie` command (`python -m keras_encoders.uie`):
  subcommands `doccano`, `label-studio` and `evaluate`, with PaddleNLP's
  flags, and `export-paddle` (a PaddleNLP UIE-M folder for Taskflow, through
  `keras_encoders.paddle_export`).

This package sits above `keras_encoders.models` (it evaluates tasks) and
`keras_encoders.paddle_export`, and below nothing: models, convert and the
exports never import it.
"""

from keras_encoders.uie.annotations import AnnotationError
from keras_encoders.uie.annotations import convert_doccano
from keras_encoders.uie.annotations import convert_label_studio
from keras_encoders.uie.annotations import read_examples
from keras_encoders.uie.annotations import save_examples
from keras_encoders.uie.evaluation import evaluate
from keras_encoders.uie.metrics import SpanCounts
from keras_encoders.uie.metrics import span_counts
from keras_encoders.uie.metrics import type_groups
from keras_encoders.uie.training import training_data
