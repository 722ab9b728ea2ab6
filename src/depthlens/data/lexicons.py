"""Word-level sentiment lexicons: Hu & Liu (NLTK's opinion_lexicon.zip) and VADER."""
from __future__ import annotations

import zipfile
from pathlib import Path

from .paths import fetch

_ZIP = "nltk/opinion_lexicon.zip"


def _read_opinion_lexicon(root: Path) -> dict[str, int]:
    with zipfile.ZipFile(root / _ZIP) as archive:
        words = {
            polarity: {
                line.strip()
                for line in archive.read(f"opinion_lexicon/{name}-words.txt").decode("utf-8").split("\n")
                if line.strip() and not line.startswith(";")
            }
            for polarity, name in ((1, "positive"), (-1, "negative"))
        }
    both = words[1] & words[-1]
    return {w: polarity for polarity, ws in words.items() for w in sorted(ws - both)}


def sentiment_lexicon() -> dict[str, int]:
    """Hu & Liu opinion lexicon: word -> +1 (positive) or -1 (negative).

    The ``;`` comment header is skipped; the few words listed as both positive
    and negative (``envious``, ...) are left out.
    """
    return fetch([_ZIP], _read_opinion_lexicon)


def vader_lexicon() -> dict[str, float]:
    """VADER's word -> mean valence (about -4..4), or {} if ``vaderSentiment`` is not installed."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return {}
    return dict(SentimentIntensityAnalyzer().lexicon)
