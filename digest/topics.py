"""Topics: does an item belong in a digest, and how strongly.

Matching is on Simplified-normalised text (OpenCC), so a Traditional-Chinese page matches Simplified keywords,
and Latin letters match case-insensitively (CAR-T, car-t). The relevance score counts distinct include terms:
each one found in the title scores 3, each one found only in the text scores 1, so a title naming the topic, or
a text naming two of its terms, reaches the default threshold of 2; a passing mention does not. Any exclude term
anywhere drops the item.
"""

from __future__ import annotations

from policywatch.core.config import Topic

TITLE_WEIGHT = 3


def relevance(topic: Topic, title: str, text: str) -> float:
    """The item's score for one topic; 0 when an exclude term appears. Title and text must be simplified."""
    title, text = title.casefold(), text.casefold()
    if any(term.casefold() in title or term.casefold() in text for term in topic.exclude):
        return 0.0
    score = 0.0
    for term in topic.include:
        needle = term.casefold()
        if needle in title:
            score += TITLE_WEIGHT
        elif needle in text:
            score += 1
    return score


def topic_terms(topics: list[Topic]) -> tuple[str, ...]:
    """Every include term of these topics, longest first (so 免疫细胞 wins over 细胞 when both are terms)."""
    return tuple(sorted({t for topic in topics for t in topic.include}, key=lambda t: (-len(t), t)))
