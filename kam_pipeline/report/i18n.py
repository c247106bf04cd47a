"""Every word the report prints, in English and Chinese, and the number formats it uses.

`t(lang, key, **values)` returns one string; a key missing in a language is an error
(a test checks both languages have the same keys and placeholders). Indicator names and
number formats come from the indicator registry (scoring/indicators.yaml).
"""

from __future__ import annotations

import math
import re
import string
from typing import Any

from kam_pipeline.scoring import indicators as registry

LANGS = ("en", "zh")

STRINGS: dict[str, dict[str, str]] = {
    # document
    "title": {"en": "Key account performance evaluation", "zh": "关键客户绩效评估报告"},
    "subtitle": {"en": "As of {as_of} · {model}", "zh": "评估日期：{as_of} · {model}"},
    "generated_note": {
        "en": "Generated from {db} (snapshot {as_of}). Scores, weights and alerts are read from the marts tables.",
        "zh": "根据 {db}（快照 {as_of}）生成。得分、权重和预警均读取自 marts 数据表。",
    },
    "glance": {"en": "At a glance", "zh": "概览"},
    # A card shows its number above the label: the label's plural spec prints no number (no #).
    "card_accounts": {"en": "{n:account scored|accounts scored}", "zh": "{n:参评客户|参评客户}"},
    "card_key_accounts": {"en": "{n:key account|key accounts}", "zh": "{n:关键客户|关键客户}"},
    "card_avg_score": {"en": "average score", "zh": "平均得分"},
    "card_nrr": {"en": "net revenue retention", "zh": "净收入留存率"},
    "card_alerts": {"en": "{n:alert|alerts}", "zh": "{n:预警|预警}"},
    "card_revenue": {"en": "revenue in window", "zh": "窗口期收入"},
    # 1. purpose
    "sec_purpose": {"en": "1. Purpose and scope", "zh": "一、评估目的与范围"},
    "purpose_text": {
        "en": "This report evaluates the key accounts and the account managers and teams who manage them: "
        "how each account is doing (value, growth, loyalty, satisfaction, risk) as one weighted score with "
        "its parts visible, so that results can be tied to incentives and the strategy adjusted where "
        "accounts are at risk.",
        "zh": "本报告评估关键客户以及负责这些客户的客户经理和团队：以一个可分解的加权得分反映每个客户的价值、"
        "增长、忠诚度、满意度和风险，使评估结果能够与激励挂钩，并针对存在风险的客户调整策略。",
    },
    "scope_as_of": {"en": "As-of date", "zh": "评估日期"},
    "scope_window": {"en": "Evaluation window", "zh": "评估窗口"},
    "scope_window_value": {"en": "{days:# day|# days}: {start} to {end}", "zh": "{days} 天：{start} 至 {end}"},
    "scope_accounts": {"en": "Accounts evaluated", "zh": "参评客户"},
    "scope_accounts_value": {
        "en": "{scored} scored of {total}; {key:# key account|# key accounts}",
        "zh": "共 {total} 个，其中 {scored} 个已评分；关键客户 {key} 个",
    },
    "scope_managers": {"en": "Managers and teams", "zh": "客户经理与团队"},
    "scope_managers_value": {
        "en": "{managers:# manager|# managers} in {teams:# team|# teams}",
        "zh": "{teams} 个团队共 {managers} 名客户经理",
    },
    "scope_completeness": {"en": "Data completeness", "zh": "数据完整度"},
    "scope_completeness_value": {
        "en": "mean {mean} of the scoring weight backed by data; {insufficient:# account|# accounts} with insufficient data",
        "zh": "平均 {mean} 的评分权重有数据支撑；{insufficient} 个客户数据不足",
    },
    "scope_snapshots": {"en": "Stored snapshots", "zh": "历史快照"},
    "scope_snapshots_value": {"en": "{n}: {first} to {last}", "zh": "{n} 个：{first} 至 {last}"},
    "scope_snapshots_single": {
        "en": "1: {first} (the first stored snapshot)",
        "zh": "1 个：{first}（第一个存储的快照）",
    },
    # 2. method
    "sec_method": {"en": "2. Method", "zh": "二、评估方法"},
    "method_text": {
        "en": "Each indicator is normalised to 0–1 respecting its direction: on its fixed scale when it has one, "
        "otherwise among the accounts of the peer group named below; an account's score is 100 × Σ weight × normalised value, so every score splits into "
        "points per indicator. Missing evidence never counts as zero: the weights of the indicators that "
        "have a value are rescaled, and completeness says how much of the weight real data backs. "
        "Groups are weighted by {group_methods}; indicators inside a group by {methods}.",
        "zh": "每个指标按其方向归一化到 0–1：有固定区间的指标按其固定区间，其余指标在下文所述的比较群体中归一化；客户得分 = 100 × Σ 权重 × 归一化值，"
        "因此每个得分都可以分解为各指标的分值。缺失数据不按零处理：有数据的指标权重按比例重新分配，"
        "完整度表示有真实数据支撑的权重比例。维度之间采用{group_methods}赋权，维度内指标采用{methods}赋权。",
    },
    "grade_bands": {
        "en": "Grade bands: {bands}; below {min_completeness} completeness: insufficient data.",
        "zh": "等级划分：{bands}；完整度低于 {min_completeness}：数据不足。",
    },
    # peer groups (report/peers.py): whom the relative scores were compared with
    "peers_profile": {
        "en": "Profile “{profile}”: scores are relative to the profile's own scored accounts ({count} in the group).",
        "zh": "评分方案“{profile}”：得分相对于本方案的已评分客户（该群体共 {count} 个）。",
    },
    "peers_portfolio": {
        "en": "Profile “{profile}” is too small to be its own peer group ({own} scored, fewer than {min_peers}): "
        "its relative indicators and objective weights come from the whole portfolio, so its scores are "
        "relative to the portfolio ({count} in the group).",
        "zh": "评分方案“{profile}”仅有 {own} 个已评分客户，少于 {min_peers} 个：其相对指标与客观权重按整个客户组合计算，"
        "得分相对于整个组合（共 {count} 个已评分客户）。",
    },
    "peers_managers": {
        "en": "Account managers: scores are relative to all scored managers of the portfolio ({count} in the group); "
        "team scores aggregate them.",
        "zh": "客户经理：得分相对于组合中全部已评分客户经理（该群体共 {count} 名）；团队得分由其汇总。",
    },
    "peers_few": {
        "en": " The group is smaller than {min_peers}: relative scores rest on few peers, read them with care.",
        "zh": "该群体少于 {min_peers} 个，相对得分所依据的比较对象较少，请谨慎解读。",
    },
    "hierarchy": {"en": "Indicator system and weights", "zh": "指标体系与权重"},
    "hierarchy_note": {
        "en": "Final weight = group weight × weight inside the group; each profile's weights sum to 100 %. "
        "Subjective and objective columns are the two parts of a combined weight inside the group.",
        "zh": "最终权重 = 维度权重 × 维度内权重；每个评分方案的权重合计为 100%。"
        "主观权重与客观权重为维度内组合赋权的两个组成部分。",
    },
    "col_group": {"en": "Group", "zh": "维度"},
    "col_indicator": {"en": "Indicator", "zh": "指标"},
    "col_direction": {"en": "Direction", "zh": "方向"},
    "col_group_weight": {"en": "Group weight", "zh": "维度权重"},
    "col_subjective": {"en": "Subjective", "zh": "主观权重"},
    "col_objective": {"en": "Objective", "zh": "客观权重"},
    "col_weight": {"en": "Final weight", "zh": "最终权重"},
    "col_profile": {"en": "Profile", "zh": "评分方案"},
    "profile_weights": {
        "en": "Profile “{profile}” (segments: {segments})",
        "zh": "评分方案“{profile}”（客户分类：{segments}）",
    },
    "manager_weights": {"en": "Account manager scorecard ({methods})", "zh": "客户经理评分卡（{methods}）"},
    "manager_scorecard": {"en": "managers", "zh": "客户经理"},
    "all_other_segments": {"en": "all others", "zh": "其他全部"},
    "direction_higher": {"en": "higher is better", "zh": "越高越好"},
    "direction_lower": {"en": "lower is better", "zh": "越低越好"},
    "consistency": {"en": "AHP consistency check", "zh": "AHP 一致性检验"},
    "consistency_note": {
        "en": "CI = (λmax − n)/(n − 1), CR = CI/RI(n); a matrix is accepted when CR ≤ 0.10.",
        "zh": "CI = (λmax − n)/(n − 1)，CR = CI/RI(n)；CR ≤ 0.10 时判断矩阵通过一致性检验。",
    },
    "consistency_none": {"en": "No AHP matrix in this model.", "zh": "本模型未使用 AHP 判断矩阵。"},
    "col_matrix": {"en": "Matrix", "zh": "判断矩阵"},
    "col_weights": {"en": "Weights", "zh": "权重"},
    "col_verdict": {"en": "Verdict", "zh": "结论"},
    "accepted": {"en": "accepted", "zh": "通过"},
    "rejected": {"en": "rejected", "zh": "未通过"},
    "matrix_groups": {"en": "between groups", "zh": "维度之间"},
    "matrix_indicators": {"en": "inside {group}", "zh": "{group}内部"},
    "matrix_expert": {"en": "{where}: expert {expert}", "zh": "{where}：专家 {expert}"},
    "matrix_aggregate": {"en": "{where}: geometric mean of the experts", "zh": "{where}：专家判断的几何平均"},
    "game_theory_note": {
        "en": "Game-theory combination coefficients α* (subjective / objective): {levels}.",
        "zh": "博弈论组合系数 α*（主观 / 客观）：{levels}。",
    },
    "game_theory_level": {"en": "{where} {subjective} / {objective}", "zh": "{where} {subjective} / {objective}"},
    # weight stability (marts.weight_stability)
    "stability_heading": {"en": "How stable are the weights?", "zh": "权重是否稳定？"},
    "stability_text": {
        "en": "Each profile's weights were recomputed on {draws} bootstrap resamples of its accounts (objective "
        "weights from the resample, expert and AHP weights unchanged). A weight is unstable when its 5–95 % band "
        "is wider than 0.10 or than half the weight itself; a ranking built on unstable weights is an artefact of "
        "this set of accounts as much as of the accounts' own figures.",
        "zh": "每个方案的权重在其客户的 {draws} 次自助重抽样上重新计算（客观权重取自重抽样，专家和 AHP 权重不变）。"
        "若某权重的 5%–95% 区间宽于 0.10 或宽于该权重的一半，即视为不稳定；建立在不稳定权重上的排名，"
        "既反映客户自身的数据，也受这一批客户构成的影响。",
    },
    "stability_unstable": {
        "en": "Profile {profile} ({accounts:# account|# accounts}) has {count:# unstable weight|# unstable weights}; "
        "the widest: {items}.",
        "zh": "方案 {profile}（{accounts} 个客户）有 {count} 个不稳定的权重；区间最宽的：{items}。",
    },
    "stability_item": {
        "en": "{indicator} {weight} (band {low}–{high})",
        "zh": "{indicator} {weight}（区间 {low}–{high}）",
    },
    "stability_stable": {
        "en": "No profile's weights are unstable.",
        "zh": "没有方案的权重不稳定。",
    },
    # the method comparison (marts.method_comparison, method_agreement)
    "methods_title": {"en": "Does the ranking hold under other methods?", "zh": "换一种方法，排名是否依然成立？"},
    "methods_text": {
        "en": "The same normalised values and final weights are also ranked by TOPSIS (closeness to the ideal "
        "account, between the best and the worst value of every indicator in the profile) and by grey relational "
        "analysis (Deng's grade against the best value of every indicator, ρ = {rho}). A rank correlation near 1 "
        "means the weighted-sum ranking holds under the other method; a low one means the ranking depends on how "
        "the indicators are aggregated, so read close ranks with care.",
        "zh": "同一组归一化值和最终权重还分别用 TOPSIS（在方案内各指标最优值与最劣值之间，与理想客户的贴近度）和"
        "灰色关联分析（邓氏灰色关联度，以各指标最优值为参考序列，ρ = {rho}）排序。秩相关系数接近 1 表示加权求和的排名"
        "在另一种方法下依然成立；系数较低说明排名取决于指标的合成方式，排名相近的客户应谨慎比较。",
    },
    "methods_agreement": {"en": "Rank agreement with the weighted sum", "zh": "与加权求和排名的一致性"},
    "col_topsis_spearman": {"en": "TOPSIS Spearman", "zh": "TOPSIS 斯皮尔曼"},
    "col_topsis_kendall": {"en": "TOPSIS Kendall", "zh": "TOPSIS 肯德尔"},
    "col_gra_spearman": {"en": "GRA Spearman", "zh": "灰色关联 斯皮尔曼"},
    "col_gra_kendall": {"en": "GRA Kendall", "zh": "灰色关联 肯德尔"},
    "methods_shifts": {
        "en": "{n:The account|The # accounts} whose rank differs most between methods",
        "zh": "不同方法下排名差异最大的 {n} 个客户",
    },
    "methods_shifts_note": {
        "en": "Ranks within the profile, 1 = best; the shift is the largest difference from the weighted-sum rank.",
        "zh": "排名为方案内排名，1 为最好；变动为与加权求和排名的最大差值。",
    },
    "methods_same": {
        "en": "TOPSIS and grey relational analysis rank every account as the weighted sum does.",
        "zh": "TOPSIS 和灰色关联分析对每个客户的排名均与加权求和一致。",
    },
    "col_rank_sum": {"en": "Weighted sum", "zh": "加权求和"},
    "col_rank_topsis": {"en": "TOPSIS", "zh": "TOPSIS"},
    "col_rank_gra": {"en": "GRA", "zh": "灰色关联"},
    "col_shift": {"en": "Shift", "zh": "变动"},
    # 3. results
    "sec_results": {"en": "3. Results", "zh": "三、评估结果"},
    "chart_ranking": {"en": "Top {n:# account|# accounts} by score", "zh": "得分前 {n} 位的客户"},
    "chart_ranking_all": {"en": "{n:The only account|All # accounts} by score", "zh": "全部 {n} 个客户的得分"},
    "chart_grades": {"en": "Grade distribution", "zh": "等级分布"},
    "chart_trend_top": {"en": "Score trend of the top accounts", "zh": "领先客户得分趋势"},
    "chart_trend_risk": {"en": "Score trend of the at-risk accounts", "zh": "风险客户得分趋势"},
    "chart_breakdown": {"en": "Score by perspective (points)", "zh": "各维度得分构成（分）"},
    "breakdown_all": {
        "en": "{n:The only scored account|All # scored accounts}, in rank order.",
        "zh": "全部 {n} 个已评分客户，按排名排列。",
    },
    "breakdown_split": {
        "en": "The top {top} and the bottom {bottom} of {n:# scored account|# scored accounts}, in rank order; "
        "ranks {first}–{last} are not shown (every account's score by perspective is in marts.account_scores).",
        "zh": "{n} 个已评分客户中的前 {top} 名与后 {bottom} 名，按排名排列；第 {first}–{last} 名未显示"
        "（所有客户的各维度得分见 marts.account_scores）。",
    },
    "breakdown_gap": {"en": "ranks {first}–{last} not shown", "zh": "第 {first}–{last} 名未显示"},
    "trend_single": {
        "en": "Only one snapshot is stored: trends appear from the second daily run on.",
        "zh": "目前只有一个快照：从第二次每日运行起显示趋势。",
    },
    "axis_score": {"en": "score", "zh": "得分"},
    "axis_points": {"en": "points", "zh": "分"},
    "axis_accounts": {"en": "accounts", "zh": "客户数"},
    "key_marker": {"en": "★ key account", "zh": "★ 关键客户"},
    "ranking_table": {"en": "Account ranking", "zh": "客户排名"},
    "ranking_table_note": {
        "en": "Top {top} and bottom {bottom} of {n:# scored account|# scored accounts}; ranks {first}–{last} are not shown "
        "(every account is in marts.account_scores).",
        "zh": "{n} 个已评分客户中的前 {top} 名与后 {bottom} 名；第 {first}–{last} 名未显示（完整名单见 marts.account_scores）。",
    },
    "ranking_table_all": {
        "en": "{n:The only scored account.|All # scored accounts, in rank order.}",
        "zh": "全部 {n} 个已评分客户，按排名排列。",
    },
    "league_table_note": {
        "en": "The {top} best and the {bottom} worst scores of {n}; every row is in marts.{table}.",
        "zh": "共 {n} 名中得分最高的 {top} 名与最低的 {bottom} 名；完整名单见 marts.{table}。",
    },
    "col_rank": {"en": "Rank", "zh": "排名"},
    "col_account": {"en": "Account", "zh": "客户"},
    "col_segment": {"en": "Segment", "zh": "客户分类"},
    "col_score": {"en": "Score", "zh": "得分"},
    "col_change": {"en": "Change", "zh": "变化"},
    "col_grade": {"en": "Grade", "zh": "等级"},
    "col_key": {"en": "Key", "zh": "关键"},
    "col_completeness": {"en": "Completeness", "zh": "完整度"},
    "col_manager": {"en": "Manager", "zh": "客户经理"},
    "col_team": {"en": "Team", "zh": "团队"},
    "col_accounts": {"en": "Accounts", "zh": "客户数"},
    "col_revenue": {"en": "Revenue", "zh": "收入"},
    "col_revenue_growth": {"en": "Revenue growth", "zh": "收入增长率"},
    "col_nrr": {"en": "NRR", "zh": "净收入留存"},
    "col_grr": {"en": "GRR", "zh": "总收入留存"},
    "col_logo_retention": {"en": "Logo retention", "zh": "客户保留率"},
    "col_churn_rate": {"en": "Churn rate", "zh": "客户流失率"},
    "col_market_share": {"en": "Market share", "zh": "市场份额"},
    "col_feedback": {"en": "360° feedback", "zh": "360度评估"},
    "col_kpi": {"en": "KPI attainment", "zh": "KPI 达成率"},
    "col_kpis_met": {"en": "KPIs met", "zh": "达标 KPI"},
    "yes": {"en": "yes", "zh": "是"},
    "managers": {"en": "Account manager league table", "zh": "客户经理排名"},
    "teams": {"en": "Team league table", "zh": "团队排名"},
    "kpi_note": {
        "en": "KPI attainment: value against target per KPI ({targets}); “KPIs met” counts the targets reached.",
        "zh": "KPI 达成率：各 KPI 实际值与目标值之比（{targets}）；“达标 KPI”为达到目标的个数。",
    },
    "kpi_missing": {
        "en": "This database has no KPI attainment table; the league tables show scores and book indicators.",
        "zh": "本数据库没有 KPI 达成表；排名表显示得分和客户组合指标。",
    },
    "portfolio": {"en": "Portfolio KPIs", "zh": "客户组合关键指标"},
    # The customer lifecycle: the revenue bridge and the accounts won and lost.
    "lifecycle_heading": {"en": "Where revenue came from and went", "zh": "收入变动来源（收入桥）"},
    "chart_bridge": {"en": "Revenue bridge, previous window → current window", "zh": "收入桥：上一窗口 → 当前窗口"},
    "chart_bridge_segment": {"en": "Revenue bridge: {segment}", "zh": "收入桥：{segment}"},
    "bridge_revenue_prev": {"en": "Previous window", "zh": "上一窗口"},
    "bridge_revenue": {"en": "Current window", "zh": "当前窗口"},
    "bridge_new": {"en": "New", "zh": "新客户"},
    "bridge_reactivated": {"en": "Reactivated", "zh": "重新激活"},
    "bridge_expansion": {"en": "Expansion", "zh": "增购"},
    "bridge_contraction": {"en": "Contraction", "zh": "缩减"},
    "bridge_churned": {"en": "Churned", "zh": "流失"},
    "bridge_other": {"en": "Other", "zh": "其他"},
    "bridge_note": {
        "en": "Each account's revenue change goes to one bar by its lifecycle stage: new (first order in the window), "
        "reactivated (ordered before the previous window, not in it), expansion and contraction (ordered in both "
        "windows), churned (ordered in the previous window only), other (returns only).",
        "zh": "每个客户的收入变动按其生命周期阶段计入一栏：新客户（首单在当前窗口）、重新激活（上一窗口之前下过单、"
        "上一窗口没有）、增购与缩减（两个窗口都有订单）、流失（只在上一窗口有订单）、其他（仅有退货）。",
    },
    "new_key_heading": {"en": "New key accounts", "zh": "新增关键客户"},
    "new_key_none": {"en": "No key account is new in this window.", "zh": "本窗口没有新增的关键客户。"},
    "new_key_more": {
        "en": "The {shown} with the most revenue of {total} new key accounts.",
        "zh": "共 {total} 个新增关键客户，列出收入最高的 {shown} 个。",
    },
    "churned_heading": {"en": "Churned accounts", "zh": "流失客户"},
    "churned_none": {"en": "No account churned in this window.", "zh": "本窗口没有流失客户。"},
    "churned_more": {
        "en": "The {shown} with the most previous revenue of {total} churned accounts.",
        "zh": "共 {total} 个流失客户，列出上一窗口收入最高的 {shown} 个。",
    },
    "col_first_order": {"en": "First order", "zh": "首单日期"},
    "col_revenue_prev": {"en": "Previous revenue", "zh": "上一窗口收入"},
    "col_last_order": {"en": "Last order", "zh": "最后订单"},
    "bridge_sentence": {
        "en": "Revenue moved from {prev} to {revenue} ({change}): new accounts {new}, reactivated {reactivated}, "
        "expansion {expansion}, contraction {contraction}, churn {churned}, other {other}; the largest part came "
        "from {largest} ({largest_amount}).",
        "zh": "收入从 {prev} 变为 {revenue}（{change}）：新客户 {new}，重新激活 {reactivated}，增购 {expansion}，"
        "缩减 {contraction}，流失 {churned}，其他 {other}；变动最大的一项是{largest}（{largest_amount}）。",
    },
    "segment_all": {"en": "all", "zh": "全部"},
    # 4. data quality
    "sec_quality": {"en": "4. Data quality", "zh": "四、数据质量"},
    "quality_text": {
        "en": "{quarantined:# delivered row is|# delivered rows are} quarantined (kept aside with the rule broken, "
        "never scored); {files:# input file|# input files} could not be read.",
        "zh": "共有 {quarantined} 行输入数据被隔离（连同其违反的规则单独保存，不参与评分）；{files} 个输入文件无法读取。",
    },
    "quarantine_by_source": {"en": "Quarantined rows by source", "zh": "按数据源统计的隔离行"},
    "quarantine_by_rule": {"en": "Most frequent broken rules", "zh": "最常见的违规规则"},
    "col_source": {"en": "Source", "zh": "数据源"},
    "col_rows": {"en": "Rows", "zh": "行数"},
    "col_column": {"en": "Column", "zh": "字段"},
    "col_rule": {"en": "Rule", "zh": "规则"},
    "col_file": {"en": "File", "zh": "文件"},
    "col_reason": {"en": "Reason", "zh": "原因"},
    "failed_files": {"en": "Files not read", "zh": "未读取的文件"},
    "ignored_text": {
        "en": " {ignored:# file|# files} of the data folder {ignored:is|are} read by no source (ignored, listed below).",
        "zh": "数据文件夹中有 {ignored} 个文件不属于任何数据源，未被读取（已忽略，见下表）。",
    },
    "col_status": {"en": "Status", "zh": "状态"},
    "file_failed": {"en": "unreadable", "zh": "无法读取"},
    "file_ignored": {"en": "ignored", "zh": "已忽略"},
    "no_quarantine": {"en": "No row was quarantined.", "zh": "没有数据行被隔离。"},
    "missing_indicators": {"en": "Indicators most often missing", "zh": "最常缺失的指标"},
    "col_missing": {"en": "Accounts without a value", "zh": "缺失客户数"},
    "col_share": {"en": "Share", "zh": "占比"},
    "no_missing": {
        "en": "Every scored indicator has a value for every account.",
        "zh": "所有参评客户的所有指标均有数据。",
    },
    # 5. alerts
    "sec_alerts": {"en": "5. Score alerts", "zh": "五、评分预警"},
    "alerts_rule_text": {
        "en": "Rules (scoring model): score fell by more than {points:# point|# points}, grade fell ({grade_drop}), "
        "newly churned ({churned}); {scope}.",
        "zh": "规则（评分模型）：得分下降超过 {points} 分，等级下降（{grade_drop}），新增流失（{churned}）；{scope}。",
    },
    "alerts_compared": {"en": "Compared with the snapshot of {previous}.", "zh": "对比快照：{previous}。"},
    "alerts_first": {
        "en": "This is the first stored snapshot; no comparison yet.",
        "zh": "这是第一个存储的快照，暂无可对比的快照。",
    },
    "alerts_scope_key": {"en": "key accounts only", "zh": "仅限关键客户"},
    "alerts_scope_all": {"en": "all accounts", "zh": "全部客户"},
    "on": {"en": "on", "zh": "启用"},
    "off": {"en": "off", "zh": "停用"},
    "no_alerts": {"en": "No alert on this date.", "zh": "本日无预警。"},
    "no_previous": {
        "en": "No earlier snapshot: alerts start with the second run.",
        "zh": "没有更早的快照：从第二次运行开始产生预警。",
    },
    "col_what": {"en": "What happened", "zh": "情况"},
    "col_driver": {"en": "Largest fall", "zh": "主要下降指标"},
    "rule_score_drop": {"en": "score drop", "zh": "得分下降"},
    "rule_grade_drop": {"en": "grade drop", "zh": "等级下降"},
    "rule_became_churned": {"en": "newly churned", "zh": "新增流失"},
    "alert_score_drop": {"en": "score {previous} → {score} ({change})", "zh": "得分 {previous} → {score}（{change}）"},
    "alert_grade_drop": {"en": "grade {previous} → {grade}", "zh": "等级 {previous} → {grade}"},
    "alert_became_churned": {"en": "no completed order for {days:# day|# days}", "zh": "已 {days} 天没有完成的订单"},
    "driver_text": {
        "en": "{indicator}: {before} → {after} ({points:# point|# points})",
        "zh": "{indicator}：{before} → {after}（{points} 分）",
    },
    # 6. conclusions
    "sec_conclusions": {"en": "6. Conclusions and suggestions", "zh": "六、结论与建议"},
    "overview_sentence": {
        "en": "{n:# account was|# accounts were} scored as of {as_of}; the average score is {avg}{change}. "
        "{key:# is a key account|# are key accounts}, carrying {key_share} of the revenue; grades: {grades}.",
        "zh": "截至 {as_of} 共有 {n} 个客户参与评分，平均得分 {avg}{change}。关键客户 {key} 个，"
        "贡献 {key_share} 的收入；等级分布：{grades}。",
    },
    "overview_change": {"en": " ({change} since {previous})", "zh": "（较 {previous} {change}）"},
    "portfolio_sentence": {
        "en": "Portfolio: revenue {revenue} ({growth} on the previous window), logo retention {retention}, "
        "NRR {nrr}, GRR {grr}.",
        "zh": "客户组合：收入 {revenue}（较上一窗口 {growth}），客户保留率 {retention}，净收入留存率 {nrr}，"
        "总收入留存率 {grr}。",
    },
    "drops_heading": {"en": "Biggest score drops and what drove them", "zh": "得分降幅最大的客户及原因"},
    "drop_sentence": {
        "en": "{account} fell {points:# point|# points} to {score} ({grade}); the largest fall was {indicator}: {before} → {after} "
        "({driver_points:# point|# points}).",
        "zh": "{account} 下降 {points} 分至 {score}（{grade}）；降幅最大的指标是{indicator}：{before} → {after}"
        "（{driver_points} 分）。",
    },
    "drop_sentence_relative": {
        "en": "{account} fell {points:# point|# points} to {score} ({grade}); the largest fall was {indicator} "
        "({driver_points:# point|# points}): at {after} (was {before}) it now ranks lower among comparable accounts.",
        "zh": "{account} 下降 {points} 分至 {score}（{grade}）；降幅最大的指标是{indicator}（{driver_points} 分）："
        "其值为 {after}（此前 {before}），在同类客户中的相对位置下降。",
    },
    "drop_sentence_no_driver": {
        "en": "{account} fell {points:# point|# points} to {score} ({grade}).",
        "zh": "{account} 下降 {points} 分至 {score}（{grade}）。",
    },
    "no_previous_drops": {
        "en": "No earlier snapshot: score changes appear from the second run on.",
        "zh": "没有更早的快照：从第二次运行起显示得分变化。",
    },
    "no_drops": {
        "en": "No account lost a point or more since {previous}.",
        "zh": "自 {previous} 以来没有客户下降 1 分或以上。",
    },
    "targets_heading": {"en": "Key accounts below target and why", "zh": "未达标的关键客户及原因"},
    "targets_summary": {
        "en": "{below} of {key:# key account|# key accounts} {below:misses|miss} at least one target ({targets}).",
        "zh": "{key} 个关键客户中有 {below} 个至少一项未达标（{targets}）。",
    },
    "target_sentence": {
        "en": "{account} (score {score}, {grade}) misses {missed} of {evaluated:# target|# targets}: {items}.{weakest}",
        "zh": "{account}（得分 {score}，{grade}）{evaluated} 项目标中 {missed} 项未达标：{items}。{weakest}",
    },
    "target_weakest": {
        "en": " Weakest perspective: {group} ({group_score}).",
        "zh": "最弱维度：{group}（{group_score}）。",
    },
    "targets_more": {
        "en": "{shown:The account|The # accounts} with the most missed targets {shown:is|are} listed; "
        "{rest:the other # is|the other # are} not shown (every account's targets, met or missed, are in "
        "marts.kpi_attainment, level 'account').",
        "zh": "下面列出未达标项最多的 {shown} 个客户；其余 {rest} 个未显示（所有客户各项目标的达成情况见 "
        "marts.kpi_attainment，level 为 'account'）。",
    },
    "drops_more": {
        "en": "{total:# account|# accounts} lost a point or more since {previous}; {shown:the largest fall is|"
        "the # largest falls are} listed, {rest:the other one is|the other # are} in marts.account_scores (score_change).",
        "zh": "自 {previous} 以来共有 {total} 个客户下降 1 分或以上；下面列出降幅最大的 {shown} 个，"
        "其余 {rest} 个见 marts.account_scores（score_change）。",
    },
    "target_item": {"en": "{indicator} {value} (target {target})", "zh": "{indicator} {value}（目标 {target}）"},
    "all_targets_met": {"en": "Every key account meets its targets.", "zh": "所有关键客户均已达标。"},
    "no_targets": {"en": "The scoring model sets no KPI targets.", "zh": "评分模型未设定 KPI 目标。"},
    "risks_heading": {"en": "Churned and at-risk key accounts", "zh": "已流失及有风险的关键客户"},
    "risk_churned": {
        "en": "{account} has churned: no completed order for {days:# day|# days} (last order {last}).",
        "zh": "{account} 已流失：已 {days} 天没有完成的订单（最近订单 {last}）。",
    },
    "risk_churned_no_order": {
        "en": "{account} has churned: no completed order on record.",
        "zh": "{account} 已流失：没有已完成订单的记录。",
    },
    "risk_at_risk": {"en": "{account} is at risk: {reasons}.", "zh": "{account} 存在风险：{reasons}。"},
    "backtest_heading": {"en": "Did the score predict churn?", "zh": "得分能否预测流失？"},
    "backtest_sentence": {
        "en": "Scores of {date} against churn {days:# day|# days} later ({followed}): AUC {auc} over "
        "{accounts:# account|# accounts}, "
        "{churned} of them churned; the lowest-scored fifth churned at {bottom}, the highest-scored fifth at {top}.",
        "zh": "{date} 的得分对照 {days} 天后（{followed}）的流失：AUC {auc}，共 {accounts} 个客户，其中 {churned} 个流失；"
        "得分最低的五分之一流失率 {bottom}，最高的五分之一 {top}。",
    },
    "backtest_no_prediction": {
        "en": "The score did not predict churn: scores of {date} against churn {days:# day|# days} later ({followed}) "
        "have AUC {auc} (0.5 is chance) over {accounts:# account|# accounts}, {churned} of them churned; the lowest-scored fifth "
        "churned at {bottom}, the highest-scored fifth at {top}.",
        "zh": "得分未能预测流失：{date} 的得分对照 {days} 天后（{followed}）的流失，AUC 为 {auc}（0.5 即随机水平），"
        "共 {accounts} 个客户，其中 {churned} 个流失；得分最低的五分之一流失率 {bottom}，最高的五分之一 {top}。",
    },
    "backtest_untestable": {
        "en": "No account of {date} churned within {days:# day|# days} ({followed}): nothing to test "
        "the score against yet.",
        "zh": "{date} 的客户在 {days} 天内（{followed}）均未流失：暂无可检验得分的流失。",
    },
    "risk_obstacles": {"en": " Largest obstacles: {items}.", "zh": "主要障碍因素：{items}。"},
    "obstacle_item": {"en": "{indicator} ({degree})", "zh": "{indicator}（{degree}）"},
    "drop_breakdown": {"en": " Score {change}: {items}.", "zh": "得分变化 {change}：{items}。"},
    "reweighting": {"en": "reweighting {points}", "zh": "权重变化 {points}"},
    "risk_reason_alert": {"en": "{rule} alert", "zh": "{rule}预警"},
    "risk_reason_grade": {"en": "grade {grade} (score {score})", "zh": "等级 {grade}（得分 {score}）"},
    "risk_reason_recency": {"en": "no order for {days:# day|# days}", "zh": "已 {days} 天未下单"},
    "no_risks": {"en": "No key account has churned or shows a risk signal.", "zh": "没有关键客户流失或出现风险信号。"},
    "people_heading": {"en": "Managers and teams", "zh": "客户经理与团队"},
    "people_sentence": {
        "en": "Best manager: {best} ({best_score}, {best_grade}); lowest: {worst} ({worst_score}, {worst_grade}). "
        "Best team: {team} ({team_score}).",
        "zh": "表现最好的客户经理：{best}（{best_score}，{best_grade}）；最低：{worst}（{worst_score}，{worst_grade}）。"
        "表现最好的团队：{team}（{team_score}）。",
    },
    "actions_heading": {"en": "Suggested actions", "zh": "建议措施"},
    "actions_note": {
        "en": "One action per cause found above; each lists the accounts it applies to.",
        "zh": "针对上述每类原因提出一项措施，并列出适用的客户。",
    },
    "col_action": {"en": "Action", "zh": "措施"},
    "col_why": {"en": "Accounts (cause)", "zh": "客户（原因）"},
    "no_actions": {"en": "No action needed on this date.", "zh": "本日无需采取措施。"},
    "suggested_action": {"en": "Suggested action: {action}", "zh": "建议措施：{action}"},
    "quality_sentence": {
        "en": "{insufficient:# account has|# accounts have} too little data to be graded; the indicator most often "
        "missing is {indicator} ({missing:# account|# accounts}).",
        "zh": "{insufficient} 个客户因数据不足无法评级；最常缺失的指标是{indicator}（{missing} 个客户）。",
    },
    "cause_drop": {"en": "fall in {indicator}", "zh": "{indicator}下降"},
    "cause_target": {"en": "{indicator} below target", "zh": "{indicator}未达标"},
    "cause_churned": {"en": "churned", "zh": "已流失"},
    "cause_recency": {"en": "no recent order", "zh": "近期未下单"},
    "cause_grade": {"en": "lowest grade", "zh": "最低等级"},
    # grades and actions
    "grade_insufficient_data": {"en": "insufficient data", "zh": "数据不足"},
    # Each action: its name, then what to do, with who does what to whom spelled out (the Chinese
    # especially: "推荐客户向其他供应商采购" read as advising the customer to buy elsewhere).
    "action_service_review": {
        "en": "service review — meet the account on satisfaction and service quality, agree fixes with service",
        "zh": "服务回顾——与客户沟通其对满意度和服务质量的意见，再与我方服务部门商定改进措施",
    },
    "action_credit_review": {
        "en": "credit review — check payment terms, credit limit and collections with finance",
        "zh": "信用审查——与我方财务部门一起核查该客户的付款条件、信用额度和催收情况",
    },
    "action_complaint_review": {
        "en": "complaint-handling review — root-cause the complaints and SLA breaches, assign an owner",
        "zh": "投诉处理复盘——分析该客户投诉和服务超时的根本原因，并指定我方负责人",
    },
    "action_account_plan": {
        "en": "account plan — review volumes and growth with the buyer, set a revenue plan for next quarter",
        "zh": "客户计划——与客户的采购负责人回顾采购量和增长情况，制定下季度的收入计划",
    },
    "action_reactivation": {
        "en": "reactivation visit — call on the account to understand why it stopped ordering",
        "zh": "重新激活拜访——上门拜访客户，了解其停止下单的原因",
    },
    "action_cross_sell": {
        "en": "cross-sell plan — offer the account the categories it now buys from other suppliers, to grow share "
        "of wallet",
        "zh": "交叉销售——向客户推荐其目前从其他供应商采购的品类，提升我方的钱包份额",
    },
    "action_pricing_review": {
        "en": "pricing review — check discounts and product mix behind the falling margin",
        "zh": "价格审查——检查导致该客户毛利率下降的折扣和产品组合",
    },
    "action_competitive_review": {
        "en": "competitive review — compare the account's growth with its market and competitors' offers",
        "zh": "竞争分析——将客户的增长与其所在市场的增长对比，并了解竞争对手向该客户提供的报价",
    },
    "action_executive_sponsor": {
        "en": "executive sponsor meeting — renew the relationship at senior level",
        "zh": "高层拜访——由我方高层拜访客户高层，巩固合作关系",
    },
    "action_win_back": {
        "en": "win-back call — manager and team lead contact the account with a recovery offer",
        "zh": "挽回客户——客户经理与团队负责人联系客户，提出挽回方案",
    },
    "action_relationship_review": {
        "en": "relationship review — go through the account's scorecard with the manager",
        "zh": "关系回顾——与客户经理逐项检查该客户的评分卡",
    },
    "account_cause": {"en": "{account} ({cause})", "zh": "{account}（{cause}）"},
    "not_available": {"en": "n/a", "zh": "无"},
    "value_missing": {"en": "no value", "zh": "无数据"},
    "list_sep": {"en": ", ", "zh": "、"},
}


class _Formatter(string.Formatter):
    """str.format with one addition: `{n:# account|# accounts}` picks the singular when n is 1.

    `#` stands for the number itself (with thousands separators), so a count and its noun are one
    placeholder and both languages keep the same placeholders (Chinese needs no plural form).
    """

    def format_field(self, value: Any, format_spec: str) -> Any:
        if "|" not in format_spec:
            return super().format_field(value, format_spec)
        one, other = format_spec.split("|", 1)
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        # English takes the singular for exactly one ("1 point", "-1 point") but not for "1.0 points".
        return (one if shown.lstrip("+-−") == "1" else other).replace("#", shown)


_FORMATTER = _Formatter()


def t(lang: str, key: str, /, **values: Any) -> str:
    """Return the string `key` in `lang` with `values` filled in (plural specs as in _Formatter)."""
    return _FORMATTER.format(STRINGS[key][lang], **values)


def missing(value: Any) -> bool:
    """True for None and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, digits: int = 1, lang: str = "en") -> str:
    """Return `value` with `digits` decimals and thousands separators, or n/a."""
    return t(lang, "not_available") if missing(value) else f"{float(value):,.{digits}f}"


def signed(value: Any, digits: int = 1, lang: str = "en") -> str:
    """Return `value` with an explicit sign (+1.5, -2.0), or n/a."""
    return t(lang, "not_available") if missing(value) else f"{float(value):+,.{digits}f}"


def percent(value: Any, digits: int = 1, lang: str = "en") -> str:
    """Return a 0-1 share as a percentage (0.153 -> 15.3 %), or n/a."""
    return t(lang, "not_available") if missing(value) else f"{100 * float(value):,.{digits}f} %"


def money(value: Any, lang: str = "en") -> str:
    """Return an amount without decimals, with thousands separators."""
    return number(value, 0, lang)


def indicator_value(indicator: str, value: Any, lang: str = "en") -> str:
    """Return an indicator's raw value as its registry `format` says (% for shares, no decimals for money).

    Anything the registry does not declare (an assessment dimension) gets one decimal.
    """
    entry = registry.indicator(indicator)
    if entry is None:
        return number(value, 1, lang)
    if entry.format == "percent":
        return percent(value, entry.digits, lang)
    return number(value, entry.digits, lang)


def join(lang: str, items: list[str]) -> str:
    """Join items with the language's list separator."""
    return t(lang, "list_sep").join(items)


# Weight method names as `indicator_weights.method` spells them (e.g. combined(expert+entropy,linear,alpha=0.5)).
METHOD_NAMES: dict[str, dict[str, str]] = {
    "ahp": {"en": "AHP", "zh": "层次分析法"},
    "expert": {"en": "expert scoring", "zh": "专家打分法"},
    "entropy": {"en": "the entropy weight method", "zh": "熵权法"},
    "critic": {"en": "CRITIC", "zh": "CRITIC 法"},
    "fixed": {"en": "fixed weights", "zh": "固定权重"},
    "combined": {"en": "combined weighting", "zh": "组合赋权法"},
    "linear": {"en": "linear", "zh": "线性组合"},
    "multiplicative": {"en": "multiplicative", "zh": "乘法组合"},
    "game_theory": {"en": "game theory", "zh": "博弈论组合"},
}


def method_name(method: str, lang: str) -> str:
    """A weight method in words: `combined(expert+entropy,linear,alpha=0.5)` -> `combined weighting (...)`."""

    def name(word: str) -> str:
        return METHOD_NAMES.get(word, {}).get(lang, word)

    found = re.fullmatch(r"combined\((\w+)\+(\w+),(\w+)(?:,alpha=([\d.]+))?\)", method.strip())
    if found:
        subjective, objective, how, alpha = found.groups()
        sep = "，" if lang == "zh" else ", "
        # Game theory has no alpha: its coefficients α* are shown with each profile's weights.
        share = f"{sep}α = {alpha}" if alpha is not None else ""
        return f"{name('combined')} ({name(subjective)} + {name(objective)}{sep}{name(how)}{share})"
    return name(method)
