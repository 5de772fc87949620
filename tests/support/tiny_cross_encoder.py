"""A tiny cross-encoder built and saved by the test itself (random weights: for the plumbing only).

No reranker model ships in a package, so the tests make a two-layer BERT with one output label and
a word-level vocabulary, saved as sentence-transformers' ``CrossEncoder`` loads a local directory.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "the a of to in is how long are kept database backups days team office city who leads "
    "manager budget release day language reviewers bugs tracked availability stand-up starts"
).split()


def build_tiny_cross_encoder(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.txt"
    vocab.write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n", encoding="utf-8"
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=5 + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(directory)
    BertTokenizer(str(vocab)).save_pretrained(directory)
    return directory
