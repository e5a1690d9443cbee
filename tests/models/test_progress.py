"""Helpers that run many windows (`answer()`, `extract()`) show a Keras
progress bar with `verbose=1`, for long work by default, and nothing with
`verbose=0`."""

import pytest

from keras_encoders import models
from keras_encoders.models import encoder_task
from tests.conftest import asset
from tests.tiny_models import ernie_m_vocabulary, tiny_backbone

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("谁爱北京我")


def progress_lines(out):
    return [line for line in out.replace("\r", "\n").splitlines() if "step" in line]


def test_answer_shows_progress_only_when_asked(capsys):
    preprocessor = models.NezhaQuestionAnswererPreprocessor(
        models.NezhaTokenizer(vocabulary=VOCABULARY), sequence_length=16, max_question_length=4)
    qa = models.NezhaQuestionAnswerer(
        tiny_backbone("nezha", vocabulary_size=len(VOCABULARY)), preprocessor=preprocessor)
    questions, contexts = ["谁爱北京"] * 2, ["我爱北京" * 6] * 2
    capsys.readouterr()
    silent = qa.answer(questions, contexts, doc_stride=4, batch_size=2, verbose=0)
    assert capsys.readouterr().out == ""
    shown = qa.answer(questions, contexts, doc_stride=4, batch_size=2, verbose=1)
    assert progress_lines(capsys.readouterr().out)
    assert shown == silent
    # "auto": silent for a few batches.
    qa.answer(questions[:1], contexts[:1], batch_size=16)
    assert capsys.readouterr().out == ""


def test_auto_verbose_means_long_work():
    assert encoder_task.progress_verbose("auto", 16 * encoder_task.LONG_WORK_BATCHES, 16) == 0
    assert encoder_task.progress_verbose("auto", 16 * encoder_task.LONG_WORK_BATCHES + 1, 16) == 1
    assert encoder_task.progress_verbose(0, 10**6, 16) == 0
    with pytest.raises(ValueError, match="verbose must be"):
        encoder_task.progress_verbose("yes", 1, 1)


def test_extract_shows_progress_only_when_asked(capsys):
    spm = asset("sentencepiece", "hf_transformers_fixtures", "test_sentencepiece_bpe.model")
    vocabulary = ernie_m_vocabulary(spm)
    backbone = models.ErnieMBackbone(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=64)
    preprocessor = models.ErnieMInformationExtractorPreprocessor(
        models.ErnieMTokenizer(proto=spm, vocabulary=vocabulary), sequence_length=16,
        max_prompt_length=4)
    extractor = models.ErnieMInformationExtractor(backbone, preprocessor=preprocessor)
    texts = ["In 1997, Steve became the CEO of Apple."] * 3
    capsys.readouterr()
    silent = extractor.extract(texts, schema=["CEO"], batch_size=2, verbose=0)
    assert capsys.readouterr().out == ""
    shown = extractor.extract(texts, schema=["CEO"], batch_size=2, verbose=1)
    assert progress_lines(capsys.readouterr().out)
    assert shown == silent
