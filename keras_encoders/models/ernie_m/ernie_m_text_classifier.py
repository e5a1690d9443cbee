"""ERNIE-M text classifier."""

import keras

from keras_encoders.models.encoder_text_classifier import EncoderTextClassifier
from keras_encoders.models.ernie_m.ernie_m_backbone import ErnieMBackbone
from keras_encoders.models.ernie_m.ernie_m_text_classifier_preprocessor import ErnieMTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="keras_encoders")
class ErnieMTextClassifier(EncoderTextClassifier):
    """ERNIE-M text classifier: pooler, dropout, dense (`ErnieMForSequenceClassification`).

    Example:
    ```python
    # Fine-tune on XNLI-style pairs, `[CLS] premise [SEP] [SEP] hypothesis [SEP]`.
    classifier = ErnieMTextClassifier.from_preset("ernie_m_base_multi", num_classes=3)
    classifier.fit(x=(premises, hypotheses), y=labels, batch_size=16)
    classifier.predict((["Il pleut."], ["It is raining."]))
    ```

    See `EncoderTextClassifier` for the arguments and behaviour.
    """

    backbone_cls = ErnieMBackbone
    preprocessor_cls = ErnieMTextClassifierPreprocessor
    checkpoint_head = "ErnieMForSequenceClassification"
