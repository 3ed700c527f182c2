"""Summaries that carry the facts: what policywatch.digest.summary keeps and drops, and how policywatch.digest.salience
scores a sentence.

tests/test_summary_report.py holds the same on 53 real texts; these are the rules one at a time.
"""

from __future__ import annotations

import pytest

from policywatch.digest.salience import Scorer
from policywatch.digest.summary import MAX_CHARS, sentences, summarise

TERMS = ("干细胞", "细胞治疗", "免疫细胞", "CAR-T", "NK细胞", "基因治疗", "外泌体")

CALL_TITLE = "关于发布上海市2024年度“科技创新行动计划”生物医药科技支撑专项项目申报指南的通知"
CALL = (  # a call for applications, written the way a science commission writes one
    "各有关单位：\n"
    "为深入实施创新驱动发展战略，加快建设具有全球影响力的科技创新中心，上海市科学技术委员会发布2024年度生物医药科技支撑专项"
    "项目申报指南。\n"
    "一、征集范围。专题一：细胞治疗临床研究。支持开展干细胞和免疫细胞临床研究，重点针对膝骨关节炎、肝衰竭等难治性疾病。\n"
    "专题二：基因治疗关键技术。支持开展新型病毒载体和非病毒递送系统研发。\n"
    "二、申报要求。申报单位应为注册在本市的法人单位；细胞治疗临床研究须按规定完成备案。\n"
    "三、资助方式。专题一每个项目资助额度不超过250万元，专题二每个项目资助额度不超过300万元，执行期限一般为2年。\n"
    "四、申报时间。项目网上填报截止时间为2024年1月19日16:30。\n"
    "联系电话：021-64321763。\n"
)


def test_a_call_keeps_the_cap_the_deadline_and_who_may_apply_and_drops_the_opener_and_headings() -> None:
    summary = summarise(CALL, TERMS, title=CALL_TITLE)
    assert summary == (
        "支持开展干细胞和免疫细胞临床研究，重点针对膝骨关节炎、肝衰竭等难治性疾病。"
        "支持开展新型病毒载体和非病毒递送系统研发。"
        "申报要求：申报单位应为注册在本市的法人单位；细胞治疗临床研究须按规定完成备案。"
        "资助方式：专题一每个项目资助额度不超过250万元，专题二每个项目资助额度不超过300万元，执行期限一般为2年。"
        "申报时间：项目网上填报截止时间为2024年1月19日16:30。"
    )
    assert len(summary) <= MAX_CHARS


def test_a_tight_budget_goes_to_the_facts_first() -> None:
    summary = summarise(CALL, TERMS, max_chars=120, title=CALL_TITLE)
    assert "250万元" in summary and "2024年1月19日" in summary
    assert "膝骨关节炎" not in summary and len(summary) <= 120


def test_research_news_keeps_its_finding() -> None:
    text = (
        "韩国首尔江南塞弗兰斯医院和延世大学医学院的临床研究团队在行业期刊发表了《2型糖尿病及糖尿病前期患者自然杀伤细胞"
        "活性与血糖控制的关系》的研究成果。\n"
        "他们评估并比较了2型糖尿病、糖尿病前期和正常糖耐量（NGT）参与者的NK细胞活性，并分析了这些参与者中NK细胞活性与"
        "各种代谢指标之间的关系。\n"
        "本研究结果与之前的研究结果一致，即与对照组相比，糖尿病患者的NK细胞活性降低。\n"
        "研究者认为，NK细胞活性下降可能与糖尿病患者感染风险升高有关，这为免疫细胞治疗在代谢性疾病领域的应用提供了新的思路。\n"
    )
    summary = summarise(text, TERMS, title="糖尿病群体内NK细胞活性明显降低")
    assert "与对照组相比，糖尿病患者的NK细胞活性降低。" in summary and "感染风险升高" in summary


PLAN = (
    "国家卫生健康委印发《“十四五”卫生健康人才发展规划》。\n"
    "规划提出，到2025年，卫生健康人才总量达到1600万人，每千人口执业（助理）医师数达到3.2人。\n"
)


def test_the_announcing_sentence_stays_only_when_it_tells_more_than_the_title() -> None:
    assert summarise(PLAN, TERMS, title="关于印发“十四五”卫生健康人才发展规划的通知") == (
        "规划提出，到2025年，卫生健康人才总量达到1600万人，每千人口执业（助理）医师数达到3.2人。")
    assert summarise(PLAN, TERMS).startswith("国家卫生健康委印发《“十四五”卫生健康人才发展规划》。")  # no title given


def test_filler_alone_gives_the_sentence_with_the_least_of_it() -> None:
    text = ("为深入贯彻落实党中央、国务院决策部署，推动产业高质量发展，现将有关事项通知如下。\n"
            "《甘肃省关于加力支持工业企业设备更新的若干措施》已经省委省政府同意，现印发你们，请认真贯彻落实。\n")
    assert summarise(text, TERMS).startswith("《甘肃省关于加力支持工业企业设备更新的若干措施》")


WRAPPED = (  # a page that broke its lines at a fixed width, in the middle of words
    "国卫办科教函〔2023〕437号\n"
    "为进一步规范干细胞临床研究，保障受试者合法权益，根据《干\n"
    "细胞临床研究管理办法（试行）》有关规定，国家卫生健康委办\n"
    "公厅、国家药监局综合司决定于2023年12月至2024年3月开展检查。\n"
    "三、工作安排。各省级卫生健康行政部门会同药品监督管理部门\n"
    "于2024年1月31日前完成辖区内自查和督导检查，并将检\n"
    "查报告报送国家卫生健康委科技教育司。\n"
    "国家卫生健康委办公厅 国家药监局综合司\n"
    "2023年12月8日\n"
)


def test_lines_wrapped_by_the_page_are_read_as_whole_sentences() -> None:
    assert sentences(WRAPPED) == [
        "为进一步规范干细胞临床研究，保障受试者合法权益，根据《干细胞临床研究管理办法（试行）》有关规定，"
        "国家卫生健康委办公厅、国家药监局综合司决定于2023年12月至2024年3月开展检查。",
        "工作安排：各省级卫生健康行政部门会同药品监督管理部门于2024年1月31日前完成辖区内自查和督导检查，"
        "并将检查报告报送国家卫生健康委科技教育司。",
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("（一）全市城乡最低生活保障标准为每人每月1309元。", ["全市城乡最低生活保障标准为每人每月1309元。"]),
    ("一、征集对象。本市高等院校、科研院所、企业等。", ["征集对象：本市高等院校、科研院所、企业等。"]),
    ("专题一：干细胞与再生医学。围绕间充质干细胞开展组织修复机制研究。", ["围绕间充质干细胞开展组织修复机制研究。"]),
    ("一、扩充儿科服务资源。二级以上综合医院要开设儿科门诊。", ["二级以上综合医院要开设儿科门诊。"]),
    ("1.3人户及以上的家庭；\n2.2人户中母子结构的家庭；", ["3人户及以上的家庭；", "2人户中母子结构的家庭；"]),
    ("1.5倍的标准执行，按月发放。", ["1.5倍的标准执行，按月发放。"]),  # a decimal, not a paragraph number
    ("第五条 纳税人的子女接受全日制学历教育的相关支出，按照每个子女每月1000元的标准定额扣除。",
     ["纳税人的子女接受全日制学历教育的相关支出，按照每个子女每月1000元的标准定额扣除。"]),
    ("二、创业担保贷款最高可以申请多少额度？\n答：个人创业担保贷款额度最高30万元。",
     ["创业担保贷款最高可以申请多少额度？", "个人创业担保贷款额度最高30万元。"]),
    ("一、支持开展干细胞临床研究。\n（二）本市户籍人员；", ["支持开展干细胞临床研究。"]),  # not: a list item's words
    ("| 各市（州）人民政府，省政府各厅委办： 为保障劳动者基本生活，决定调整最低工资标准。 |",
     ["为保障劳动者基本生活，决定调整最低工资标准。"]),
    ("近日，国家发展改革委等四部门联合印发《核电厂退役准备管理暂行办法》（以下简称《办法》）。",
     ["近日，国家发展改革委等四部门联合印发《核电厂退役准备管理暂行办法》。"]),
    ("附件：立项项目清单。\n联系电话：021-64321763。", []),
])
def test_sentences_lose_numbers_headings_salutations_and_scaffolding(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_a_question_is_left_out_and_its_answer_kept() -> None:
    text = "一、创业担保贷款申请对象有哪几类？\n答：申请对象是个人借款人和小微企业借款人，个人贷款额度最高30万元。\n"
    assert summarise(text, TERMS) == "申请对象是个人借款人和小微企业借款人，个人贷款额度最高30万元。"


def test_a_sentence_over_the_budget_offers_its_clauses_and_a_summary_never_ends_on_a_semicolon() -> None:
    text = ("根据《国家科学技术奖励条例》的规定，国务院批准，授予刘永坦院士、钱七虎院士国家最高科学技术奖；"
            + "授予“黄瓜基因组和重要农艺性状基因研究”等37项成果国家自然科学奖二等奖，" * 6
            + "授予简·迪安·米勒教授等5名外国专家中华人民共和国国际科学技术合作奖。")
    summary = summarise(text, TERMS, title="国务院关于2018年度国家科学技术奖励的决定")
    assert summary == "根据《国家科学技术奖励条例》的规定，国务院批准，授予刘永坦院士、钱七虎院士国家最高科学技术奖。"


def test_a_value_repeated_in_another_sentence_counts_once_and_a_repeat_is_not_kept() -> None:
    text = ("申报截止时间为2024年1月19日。\n"
            "请申报单位于2024年1月19日前完成网上填报。\n"
            "（一）家庭保障人口为3人户及以上；\n"
            "（二）2人户中2人均年满18周岁（夫妻除外）。\n"
            "2.2人户中2人均年满18周岁的家庭（夫妻除外）；\n")
    summary = summarise(text, TERMS)
    assert summary.count("2024年1月19日") == 1 and summary.count("年满18周岁") == 1


def test_salience_counts_values_cues_and_filler() -> None:
    scorer = Scorer(TERMS, title="关于发布2024年度生物医药科技支撑专项项目申报指南的通知")
    filler = scorer.score("为进一步做好冬季呼吸道疾病医疗服务工作，现就有关事项通知如下。")
    assert filler.facts == {} and filler.filler > 0.5 and filler.gain(set()) < 0
    facts = scorer.score("专题一每个项目资助额度不超过250万元，截止时间为2024年1月19日前。")
    assert set(facts.facts) == {"250万元", "2024年1月19日"} and facts.cues > 0  # 资助额度: money to claim
    assert facts.gain(set()) > facts.gain({"250万元"}) > facts.gain({"250万元", "2024年1月19日"}) > 0
    assert "2024年度" not in str(facts.facts)  # the title's own year is no fact
    assert scorer.score("本次发布2024年度生物医药科技支撑专项项目申报指南。").repeats_title
