"""Word-level diffs: exact round trips on random mixed-script texts, real policy revisions, safe rendering."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bench.diffs import build_pairs
from policywatch.detection.diff import (
    Diff,
    apply,
    context,
    diff,
    to_html,
    to_html_side_by_side,
    to_terminal,
    to_text,
    tokenize,
)
from tests.conftest import CORPUS

# Chinese for the random texts comes from real policy prose, so jieba sees realistic words and neighbours.
SEED = (
    "为正确审理人身损害赔偿案件，依法保护当事人的合法权益，根据《中华人民共和国民法典》等有关法律规定，"
    "结合审判实践，制定本解释。支持开展干细胞和免疫细胞临床研究，保证医疗质量和医疗安全。"
    "本市各级人民政府及其有关部门应当按照鼓励创新的原则，对新技术、新产业实行包容审慎监管。"
)
HAN = sorted({c for c in SEED if "\u4e00" <= c <= "\u9fff"})

piece = st.one_of(
    st.lists(st.sampled_from(HAN), min_size=1, max_size=6).map("".join),
    st.tuples(st.integers(0, len(SEED) - 1), st.integers(1, 15)).map(lambda t: SEED[t[0] : t[0] + t[1]]),
    st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True),
    st.from_regex(r"[0-9]{1,4}", fullmatch=True),
    st.sampled_from(list("，。；、：“”《》（）,.;:!?-/%<>&\"'")),
    st.sampled_from([" ", "  ", "\n", "\n\n", "\t", "\r\n", "\u3000"]),
    st.characters(),  # anything at all, now and then
)
texts = st.lists(piece, max_size=40)


@st.composite
def text_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Either two unrelated texts, or a text and a lightly edited copy (the common case for revisions)."""
    old = draw(texts)
    if draw(st.booleans()):
        return "".join(old), "".join(draw(texts))
    new = list(old)
    for _ in range(draw(st.integers(0, 5))):
        i = draw(st.integers(0, len(new)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        if kind == "insert" or not new:
            new.insert(i, draw(piece))
        elif kind == "delete":
            del new[min(i, len(new) - 1)]
        else:
            new[min(i, len(new) - 1)] = draw(piece)
    return "".join(old), "".join(new)


def read(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def check(old: str, new: str, d: Diff) -> None:
    """Everything a Diff of old → new must satisfy, however coarse it is."""
    assert apply(old, d) == new
    assert all(text for _, text in d.ops), "no empty operations"
    assert all(a[0] != b[0] for a, b in zip(d.ops, d.ops[1:], strict=False)), "adjacent operations merged"
    assert d.removed == sum(len(t) for op, t in d.ops if op == -1)
    assert d.added == sum(len(t) for op, t in d.ops if op == 1)
    equal = sum(len(t) for op, t in d.ops if op == 0)
    assert equal + d.removed == len(old)
    assert equal + d.added == len(new)
    assert d.changed == (old != new)


@settings(max_examples=200, deadline=None)
@given(text_pairs())
def test_diff_round_trips(pair: tuple[str, str]) -> None:
    old, new = pair
    d = diff(old, new)
    check(old, new, d)
    check(old, new, diff(old, new, timeout=1e-9))  # out of time: coarser, never wrong
    shown = context(d, width=5)
    assert [op for op in shown.ops if op[0] != 0] == [op for op in d.ops if op[0] != 0]


@settings(max_examples=200, deadline=None)
@given(st.one_of(texts.map("".join), st.text()))
def test_tokens_join_back_to_the_text(text: str) -> None:
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert all(tokens)


@settings(max_examples=200, deadline=None)
@given(text_pairs())
def test_html_never_carries_raw_text_markup(pair: tuple[str, str]) -> None:
    d = diff(*pair)
    for rendered in (to_html(d), to_html_side_by_side(d)):
        ours = r'</?(del|ins)( class="pw-(del|ins)")?>|<br>|</?(table|tr|td)( class="[a-z -]+")?>'
        assert "<" not in re.sub(ours, "", rendered)


def test_inserted_phrase_is_one_word_group() -> None:
    d = diff("支持开展干细胞临床研究", "支持开展干细胞和免疫细胞临床研究")
    assert to_text(d) == "支持开展干细胞{+和免疫细胞+}临床研究"
    assert (d.added, d.removed) == (5, 0)


def test_words_not_characters() -> None:
    assert tokenize("Article 12, para 3.") == ["Article", " ", "12", ",", " ", "para", " ", "3", "."]
    assert to_text(diff("价格 100 元", "价格 120 元")) == "价格 [-100-]{+120+} 元"


def test_draft_to_final_regulation() -> None:
    draft = read("draftpair-nhc-bianxing-shoushu-guifan-zhengqiuyijiangao-2009-06-15.md")
    final = read("draftpair-nhc-bianxing-shoushu-guifan-shixing-2009-11-13.md")
    d = diff(draft, final)
    check(draft, final, d)
    text = to_text(d)
    assert "# 变性手术技术管理规范（[-征求意见稿-]{+试行+}）" in text
    assert "为规范变性手术技术{+审核和+}临床应用" in text
    assert "[-当地公安部门备案同意术后更改身份证上的性别。" in text  # the police-registration condition was dropped


def test_amended_interpretation_is_a_small_diff() -> None:
    old = read("versionpair-renshen-sunhai-peichang-jieshi-2020-12-29.md")
    new = read("versionpair-renshen-sunhai-peichang-jieshi-2022-04-04.md")
    d = diff(old, new)
    check(old, new, d)
    assert d.added + d.removed < 0.1 * len(old)
    text = to_text(d)
    # 2022: the rural-income standard was abolished, leaving the urban one for everybody.
    assert text.count("城镇居民人均可支配收入[-或者农村居民人均纯收入-]") == 3
    assert "本解释自[-2004-]{+2022+}年5月1日起施行" in text
    assert len(to_text(context(d, 20))) < len(text) / 2


def test_benchmark_revisions_round_trip() -> None:
    """Every kind of revision the diff benchmark times (edits, moves, rewrites, all mixed) is diffed exactly."""
    for kind, old, new in build_pairs(pairs=8, size=30_000):
        d = diff(old, new)
        check(old, new, d)
        if kind == "edit":  # a few words and numbers changed: a few words and numbers marked
            assert d.added + d.removed < 200


def test_moved_paragraph_is_one_deletion_and_one_insertion() -> None:
    old = read("versionpair-renshen-sunhai-peichang-jieshi-2020-12-29.md")
    paragraphs = old.split("\n\n")
    moved = max(paragraphs, key=len)
    paragraphs.remove(moved)
    paragraphs.insert(len(paragraphs) // 3, moved)
    new = "\n\n".join(paragraphs)
    d = diff(old, new)
    check(old, new, d)
    changes = [(op, text.strip()) for op, text in d.ops if op != 0]
    assert sorted(changes) == [(-1, moved), (1, moved)]


def test_rewritten_sentences_are_replaced_whole_while_an_edit_beside_them_stays_word_level() -> None:
    first, second, third = (sentence + "。" for sentence in SEED.split("。")[:3])
    rewrite = (
        "国家卫生健康委员会负责全国人类辅助生殖技术的监督管理工作，县级以上地方卫生行政部门负责本行政区域内"
        "人类辅助生殖技术的日常监督管理。申请开展人类辅助生殖技术的医疗机构应当符合下列条件：具有与开展技术"
        "相适应的卫生专业技术人员和其他专业技术人员。"
    )
    old = f"第一条 {first}{second}{third}\n第二条 本办法自发布之日起施行。"
    new = f"第一条 {rewrite}{third.replace('应当', '必须')}\n第二条 本办法自发布之日起施行。"
    d = diff(old, new)
    check(old, new, d)
    assert to_text(d) == (
        f"第一条 [-{first}{second[:-1]}-]{{+{rewrite[:-1]}+}}。本市各级人民政府及其有关部门[-应当-]{{+必须+}}"
        "按照鼓励创新的原则，对新技术、新产业实行包容审慎监管。\n第二条 本办法自发布之日起施行。"
    )


def test_scraped_markup_is_escaped() -> None:
    old = "通知 <script>alert(1)</script> 甲 & 乙\n第二行"
    new = "通知 <b>新</b> <script>alert(1)</script> 甲 & 乙 <script>alert(2)</script>\n第二行"
    d = diff(old, "<img src=x onerror=alert(3)>" + new)
    for rendered in (to_html(d), to_html_side_by_side(d)):
        assert "<script" not in rendered
        assert "<img" not in rendered and "<b>" not in rendered
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
        assert "&amp;" in rendered
    inline = to_html(d)
    assert '<ins class="pw-ins">' in inline and "<br>第二行" in inline


def test_side_by_side_rows_follow_lines() -> None:
    table = to_html_side_by_side(diff("第一条\n第二条 旧\n第三条", "第一条\n第二条 新\n第三条\n第四条"))
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table)
    assert table.startswith('<table class="pw-sbs">') and len(rows) == 4
    assert rows[0] == '<tr><td class="pw-old">第一条</td><td class="pw-new">第一条</td></tr>'
    assert '<del class="pw-del">旧</del></td><td class="pw-new">第二条 <ins class="pw-ins">新</ins>' in rows[1]
    assert rows[3] == (
        '<tr class="pw-changed"><td class="pw-old pw-empty"></td>'
        '<td class="pw-new"><ins class="pw-ins">第四条</ins></td></tr>'
    )


def side_by_side_cells(table: str) -> list[tuple[str | None, str | None]]:
    """Each row's (old, new) cell as plain text, None for an empty cell; fold rows are left out."""
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table):
        cells = re.findall(r'<td class="pw-(old|new)( pw-empty)?">(.*?)</td>', row)
        if cells:
            rows.append(tuple(None if empty else html.unescape(re.sub(r"<[^>]+>", "", body))
                              for _, empty, body in cells))
    return rows


def check_side_by_side(old: str, new: str) -> list[tuple[str | None, str | None]]:
    """The side-by-side table of old → new: each column, read down, is its text line by line, and a line
    only inserted or only deleted never sits beside a line holding unchanged text."""
    table = to_html_side_by_side(diff(old, new))
    rows = side_by_side_cells(table)

    def lines(text: str) -> list[str]:
        split = text.split("\n")
        return split[:-1] if split[-1] == "" else split

    assert [o for o, _ in rows if o is not None] == lines(old)
    assert [n for _, n in rows if n is not None] == lines(new)
    for row in re.findall(r"<tr[^>]*>.*?</tr>", table):
        old_cell, new_cell = re.findall(r"<td[^>]*>(.*?)</td>", row)
        kept_old = re.sub(r'<del class="pw-del">[^<]*</del>', "", old_cell)
        kept_new = re.sub(r'<ins class="pw-ins">[^<]*</ins>', "", new_cell)
        only_inserted = new_cell and not kept_new
        only_deleted = old_cell and not kept_old
        assert not (only_inserted and kept_old) and not (only_deleted and kept_new), row
    return rows


def test_side_by_side_puts_an_inserted_or_deleted_line_beside_an_empty_cell() -> None:
    old = "第一条 为了规范管理，制定本办法。\n第二条 本办法适用于本市。\n第三条 本办法自发布之日起施行。"
    inserted = old.replace("第二条", "第一条之一 细胞治疗临床研究应当备案。\n第二条")
    assert check_side_by_side(old, inserted) == [
        ("第一条 为了规范管理，制定本办法。", "第一条 为了规范管理，制定本办法。"),
        (None, "第一条之一 细胞治疗临床研究应当备案。"),
        ("第二条 本办法适用于本市。", "第二条 本办法适用于本市。"),
        ("第三条 本办法自发布之日起施行。", "第三条 本办法自发布之日起施行。"),
    ]
    deleted = old.replace("第二条 本办法适用于本市。\n", "")
    assert check_side_by_side(old, deleted)[1:] == [
        ("第二条 本办法适用于本市。", None), ("第三条 本办法自发布之日起施行。", "第三条 本办法自发布之日起施行。")]
    appended = check_side_by_side(old + "\n", old + "\n第四条 附则。")
    assert appended[-1] == (None, "第四条 附则。")
    # A line replaced by another stays beside it, as does a line edited in place.
    replaced = old.replace("第二条 本办法适用于本市。", "本办法由市卫生健康委负责解释。")
    assert check_side_by_side(old, replaced)[1] == ("第二条 本办法适用于本市。", "本办法由市卫生健康委负责解释。")
    edited = old.replace("适用于本市", "适用于本市行政区域")
    assert check_side_by_side(old, edited)[1] == ("第二条 本办法适用于本市。", "第二条 本办法适用于本市行政区域。")


@pytest.mark.parametrize(("old", "new"), [
    ("draftpair-nhc-bianxing-shoushu-guifan-zhengqiuyijiangao-2009-06-15.md",
     "draftpair-nhc-bianxing-shoushu-guifan-shixing-2009-11-13.md"),
    ("versionpair-guojing-weisheng-jianyi-fa-2018-04-27.md", "versionpair-guojing-weisheng-jianyi-fa-2024-06-28.md"),
    ("versionpair-renshen-sunhai-peichang-jieshi-2020-12-29.md",
     "versionpair-renshen-sunhai-peichang-jieshi-2022-04-04.md"),
    ("versionpair-shanghai-yingshang-huanjing-tiaoli-2020-04-10.md",
     "versionpair-shanghai-yingshang-huanjing-tiaoli-2024-09-27.md"),
])
def test_side_by_side_of_real_revisions_keeps_lines_in_step(old: str, new: str) -> None:
    rows = check_side_by_side(read(old), read(new))
    assert any(o is None for o, _ in rows)  # each revision inserts whole lines: shown beside empty old cells


@settings(max_examples=200, deadline=None)
@given(text_pairs())
def test_side_by_side_columns_are_the_texts(pair: tuple[str, str]) -> None:
    assume("\r" not in "".join(pair))  # a carriage return before a line end is dropped from the table
    check_side_by_side(*pair)


def test_terminal_colours_only_the_changes() -> None:
    out = to_terminal(diff("价格 100 元\n第二行", "价格 120 元\n第二行"))
    assert out == "价格 \x1b[31;9m100\x1b[0m\x1b[32;4m120\x1b[0m 元\n第二行"
    hostile = to_terminal(diff("a", "a\x1b[2Jb"))
    assert "\x1b[2J" not in hostile and hostile.count("\x1b[") == 2


def test_identical_texts_have_no_change() -> None:
    text = "第一条 为了规范管理，制定本办法。\n第二条 本办法自发布之日起施行。"
    d = diff(text, text)
    assert not d.changed and d.ops == ((0, text),)
    assert to_terminal(d) == text and to_text(d) == text
    assert diff("", "") == Diff(())


def test_context_keeps_width_around_changes() -> None:
    old = SEED + "有关部门应当及时处理。" + SEED
    d = context(diff(old, old.replace("应当及时", "必须及时")), width=10)
    assert to_text(d) == "…" + SEED[-6:] + "有关部门[-应当-]{+必须+}及时处理。" + SEED[:5] + "…"
    unchanged = context(diff(old, old), width=3)
    assert unchanged.ops == ((0, "为正确…监管。"),)


def test_apply_rejects_a_diff_of_another_text() -> None:
    d = diff("第一条 旧", "第一条 新")
    with pytest.raises(ValueError):
        apply("第二条 旧", d)
    with pytest.raises(ValueError):
        apply("第一条 旧 多余", d)
