"""Edits told sentence by sentence, in context (policywatch.detection.edits): what digests, the site and `changes`
print."""

from __future__ import annotations

from policywatch.detection.edits import describe, sentence_edits, sentences

GUIDE = ("为加快细胞治疗产业发展，现发布2024年度项目申报指南。对符合条件的项目给予资助，资助金额最高200万元。"
         "申报截止日期为2023年12月31日。联系人：张老师。")


def test_a_changed_amount_is_told_with_what_it_is() -> None:
    edited = GUIDE.replace("最高200万元", "最高250万元")
    assert describe(sentence_edits(GUIDE, edited), "zh") == "资助金额由“最高200万元”调整为“最高250万元”"
    assert describe(sentence_edits(GUIDE, edited), "en") == "资助金额 changed from “最高200万元” to “最高250万元”"


def test_a_changed_date_drops_the_linking_word_and_marks_only_the_changed_words() -> None:
    edited = GUIDE.replace("2023年12月31日", "2024年1月15日")
    assert describe(sentence_edits(GUIDE, edited), "zh") == "申报截止日期由“2023年12月31日”调整为“2024年1月15日”"
    assert describe(sentence_edits(GUIDE, edited), "zh", marked=True) == (
        "申报截止日期由“<del>2023</del>年<del>12</del>月<del>31</del>日”调整为“<ins>2024</ins>年<ins>1</ins>月"
        "<ins>15</ins>日”")


def test_inserted_and_deleted_sentences_are_quoted_whole() -> None:
    added = GUIDE.replace("联系人", "项目实施期一般为两年。联系人")
    assert describe(sentence_edits(GUIDE, added), "zh") == "新增“项目实施期一般为两年。”"
    assert describe(sentence_edits(added, GUIDE), "zh") == "删去“项目实施期一般为两年。”"
    long = "。".join(["重点支持免疫细胞治疗、干细胞治疗和基因治疗产品的临床研究与产业化" * 2, ""])
    told = describe(sentence_edits(GUIDE, GUIDE + long), "zh")
    assert told.startswith("新增“重点支持") and told.endswith("…”") and len(told) < 70


def test_a_rewritten_sentence_is_a_removal_and_an_addition() -> None:
    edited = GUIDE.replace("对符合条件的项目给予资助，资助金额最高200万元。", "经评审立项的团队可获后补助。")
    assert describe(sentence_edits(GUIDE, edited), "zh") == (
        "删去“对符合条件的项目给予资助，资助金额最高200万元。”；新增“经评审立项的团队可获后补助。”")


def test_many_edits_are_counted_past_the_limit_and_no_edit_says_nothing() -> None:
    old = "第一条适用于本市。第二条适用于本区。第三条自发布之日起施行。第四条由市卫健委解释。"
    new = "第一条适用于全市。第二条适用于全区。第三条自2024年起施行。第四条由市科委解释。"
    told = describe(sentence_edits(old, new), "zh", limit=2)
    assert told.count("调整为") == 2 and told.endswith("等另外2处修改")
    assert sentence_edits(GUIDE, GUIDE) == [] and describe([], "zh") == ""
    assert sentence_edits(GUIDE, GUIDE.replace("。", "。\n")) == []  # only line breaks moved


def test_page_text_is_escaped_in_the_marked_line() -> None:
    old, new = "<b>金额</b>为5元。", "<b>金额</b>为<i>6</i>元。"
    marked = describe(sentence_edits(old, new), "zh", marked=True)
    assert "<b>" not in marked and "<i>" not in marked and "<ins>&lt;i&gt;6&lt;/i&gt;</ins>" in marked


def test_sentences_keep_their_punctuation() -> None:
    assert sentences("一、总则\n第一条 为了规范管理。第二条 适用范围；附则！") == [
        "一、总则", "第一条 为了规范管理。", "第二条 适用范围；", "附则！"]


def test_edits_in_two_clauses_are_told_apart_each_with_its_own_words() -> None:
    old = "到2025年，培育龙头企业15户以上，建设省级细胞制备中心2个，形成产业格局。"
    new = "到2025年，培育龙头企业20户以上，建设省级细胞制备中心3个、细胞质量检测平台1个，形成产业格局。"
    assert describe(sentence_edits(old, new), "zh") == (
        "培育由“龙头企业15户”调整为“龙头企业20户”；建设省级细胞制备由“中心2个”调整为“中心3个、细胞质量检测平台1个”")


def test_a_one_character_word_goes_with_the_words_it_qualifies() -> None:
    old = "专题一每个项目资助额度不超过200万元。"
    told = describe(sentence_edits(old, old.replace("200", "250")), "zh")
    assert told == "专题一每个项目资助额度由“不超过200万元”调整为“不超过250万元”"


def test_a_hostile_page_cannot_make_the_alignment_quadratic() -> None:
    # 100,000 identical sentences with one edited in the middle: the common start and end are set aside, so only
    # the edited sentence is aligned.
    repeated = "细胞治疗。" * 50_000
    told = describe(sentence_edits(repeated + "资助金额最高200万元。" + repeated,
                                   repeated + "资助金额最高250万元。" + repeated), "zh")
    assert told == "资助金额由“最高200万元”调整为“最高250万元”"
    # A whole page rewritten into thousands of different sentences: no detail, rather than a quadratic alignment.
    old = "".join(f"第{i}条同样的内容。" for i in range(5000))
    new = "".join(f"第{i}条同样的内容。" for i in range(5000, 10000))
    assert sentence_edits(old, new) == []
    # One sentence of 200,000 characters (no punctuation at all), edited: quoted, shortened, not diffed word by word.
    long = "细胞" * 100_000
    assert describe(sentence_edits(long, long + "治疗"), "zh").startswith("删去“细胞细胞")
