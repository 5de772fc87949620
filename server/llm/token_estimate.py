"""How many tokens a remote model makes of a prompt, without its tokenizer.

A remote endpoint's tokenizer is unknown here, and tiktoken's encodings are files it downloads
on first use, which an offline install does not have. FastChat only uses the count to bound
``max_tokens`` and to refuse a prompt longer than the context, so the estimate must not run low:
today's multilingual tokenizers (OpenAI's o200k, Qwen, DeepSeek, GLM) spend up to about one token
on a Chinese, Japanese or Korean character and about one per four characters of other text.
Counting characters / 4 alone puts Chinese about 4x too low, and such prompts overflow.
"""

from __future__ import annotations

import re

# Hangul Jamo; CJK radicals, punctuation, kana, bopomofo and ideographs (extension A too); Hangul
# Jamo extended and syllables; compatibility ideographs and forms; full-width forms; extensions B+.
WIDE = re.compile(
    "[\u1100-\u11ff\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003ffff]"
)
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """One token per CJK character, one per four characters of the rest (rounded up), plus one."""
    wide = len(WIDE.findall(text))
    rest = len(text) - wide
    return wide + -(-rest // CHARS_PER_TOKEN) + 1
