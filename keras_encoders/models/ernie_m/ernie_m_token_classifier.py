"""ERNIE-M token classifier."""

import keras

from keras_encoders.models.token_classifier import TokenClassifier
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_token_classifier_preprocessor import ErnieMTokenClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTokenClassifier(TokenClassifier):
    """ERNIE-M token classifier (`ErnieMForTokenClassification`).

    Example:
    ```python
    tagger = ErnieMTokenClassifier.from_preset("ernie_m_base_multi", num_classes=9)
    # Pre-split words (ragged), one label per word.
    words = tf.ragged.constant([["Angela", "Merkel", "besuchte", "Paris"]])
    tags = tf.ragged.constant([[1, 2, 0, 5]])
    tagger.fit(x=words, y=tags)
    ```

    See `TokenClassifier` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMTokenClassifierPreprocessor
    checkpoint_head = "ErnieMForTokenClassification"
