"""Tokenizers (one TensorFlow code path for eager calls, tf.data and SavedModels)."""

from keras_encoders.tokenizers.bert_word_piece_tokenizer import BertWordPieceTokenizer
from keras_encoders.tokenizers.encoder_tokenizer import EncoderTokenizer
from keras_encoders.models.nezha.nezha_tokenizer import NezhaTokenizer
from keras_encoders.models.convbert.convbert_tokenizer import ConvBertTokenizer
from keras_encoders.models.ernie_m.ernie_m_tokenizer import ErnieMTokenizer
