"""Decoding model outputs into answers, written once in TensorFlow ops.

The task classes (`QuestionAnswerer.answer()`, `TokenClassifier.predict_entities()`,
...) and the exported SavedModels (`keras_encoders.export`) call the same
functions, so a served model answers exactly as the Python method does.
This package imports neither `keras_encoders.models` nor
`keras_encoders.export`; import its modules directly, e.g.
`from keras_encoders.decoding import spans`.
"""
