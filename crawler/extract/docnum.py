"""Document numbers (发文字号) such as 沪科指南〔2023〕18号 and 国务院令第746号."""

from __future__ import annotations

import re

# Issuer abbreviation, bracketed year (〔〕 is standard; [] ［］ () （） 【】 occur), serial, 号.
_BRACKETED = r"[\u4e00-\u9fa5]{1,12}\s*[〔\[［(（【]\s*(?:19|20)\d{2}\s*[〕\]］)）】]\s*第?\s*\d{1,5}\s*号"
_DECREE = r"[\u4e00-\u9fa5]{1,12}令\s*第\s*\d{1,5}\s*号"
DOC_NUMBER = re.compile(f"{_BRACKETED}|{_DECREE}")
_SPACE = re.compile(r"\s+")
# Words that start a sentence, not an issuer: "根据《…》(沪科指南〔2023〕18号)" keeps only the number.
# A date just before the issuer ("2021年7月27日中华人民共和国国务院令…") is not part of it either.
_LEADING_NOISE = re.compile(r"^.*?(?:根据|按照|依据|依照|参照|印发|转发|关于|通知|的|日)(?=[\u4e00-\u9fa5]{2})")


def find_doc_number(text: str) -> str | None:
    """The first document number in ``text``, whitespace removed, or None."""
    match = DOC_NUMBER.search(text)
    if not match:
        return None
    number = _SPACE.sub("", match.group(0))
    return _LEADING_NOISE.sub("", number)
