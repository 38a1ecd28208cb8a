"""The KPI formulas in words, Chinese and English: the one text the inspection PDF's appendix prints and the table
of docs/kpis.md is generated from (``markdown_table``), beside the SQL of ``dispatch.reports.kpis`` that computes
them (every KPI of ``kpis.definitions`` has its entry here: tests/reports/test_report_exports.py checks it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Formula:
    key: str  # the KPI's name in kpis.definitions (p90_h: the p90 of handling_time)
    zh: str
    en: str
    numerator_zh: str
    numerator_en: str
    denominator_zh: str
    denominator_en: str
    # the same in the columns' terms, for the developers' table of docs/kpis.md
    numerator_doc: str = ""
    denominator_doc: str = ""
    doc_label: str = ""  # the row's label there (default: "English (中文)")


@dataclass(frozen=True)
class Term:
    zh: str
    en: str
    meaning_zh: str
    meaning_en: str


SCOPE: tuple[Term, ...] = (
    Term(
        "受理量",
        "Received",
        "统计期间内（按北京时间自然日）受理的工单；以下各项指标只统计这些工单（工单归入其受理所在的期间，无论何时办结）。",
        "cases received in the period, counted in Beijing days; every KPI below counts these cases only (a case "
        "belongs to the period it was received in, whenever it was finished).",
    ),
    Term(
        "有效工单",
        "Valid",
        "受理的工单中未被合并（重复件）、未被撤销的。",
        "received cases that were not merged (a duplicate) or cancelled.",
    ),
    Term(
        "已办结",
        "Resolved",
        "当前状态为已办结或已结案；办结后又被重新办理的，再次办结之前不算办结。",
        "resolved or closed now; a case reopened after resolution is not resolved until it is resolved again.",
    ),
    Term(
        "未办结",
        "Open",
        "当前状态为已受理、派单中、调度中、已签收、办理中或已重办。",
        "received, being offered, being dispatched, accepted, in progress or reopened.",
    ),
    Term(
        "办结时间",
        "Done time",
        "办结的时间；转交部门后未办结即结案的，取结案时间。",
        "when it was resolved, or when a forwarded case was closed without a resolution.",
    ),
    Term(
        "当前时刻",
        "Now",
        "生成报告的时刻：未办结工单是否超期，以此时判断。",
        "the moment the report is made: whether an open case is late is judged at it.",
    ),
)

FORMULAS: tuple[Formula, ...] = (
    Formula(
        "response_rate",
        "响应率",
        "Response rate",
        "有效工单中已签收（委员接单或值班员指派）或已转交职能部门的件数",
        "valid cases signed (accepted by a member or assigned by an operator) or forwarded to a department",
        "有效工单数",
        "valid cases",
        numerator_doc=(
            "valid cases signed (`accepted_at` set: accepted by a member or assigned by an operator) or forwarded "
            "to a department (`department_id` set)"
        ),
        denominator_doc="valid cases",
    ),
    Formula(
        "on_time_signing",
        "按时签收率",
        "On-time signing",
        "受理后 H 小时内签收的件数",
        "cases signed within H hours of receipt",
        "已签收件数 + 受理已超过 H 小时仍未签收的未办结件数（超时未签收计为不按时）",
        "cases signed + open cases still unsigned H hours after receipt (unsigned past the deadline counts as late)",
        numerator_doc="cases with `accepted_at − created_at ≤ H` hours",
        denominator_doc=(
            "cases signed + open cases never signed whose `created_at + H` has passed (unsigned past the deadline "
            "counts as late)"
        ),
    ),
    Formula(
        "resolution_rate",
        "办结率",
        "Resolution rate",
        "已办结件数",
        "resolved cases",
        "有效工单数",
        "valid cases",
        numerator_doc="resolved cases",
        denominator_doc="valid cases",
    ),
    Formula(
        "on_time_closure",
        "按期办结率",
        "On-time closure",
        "在办理时限内办结（或没有办理时限）的件数",
        "resolved cases done by their deadline (or without one)",
        "已办结件数 + 已超过办理时限仍未办结的件数（超期未办计为不按期）",
        "resolved cases + open cases past their deadline (open and overdue counts as late)",
        numerator_doc="resolved cases with done time ≤ `due_at` (or no `due_at`)",
        denominator_doc="resolved cases + open cases with `due_at < now` (**open and overdue counts as late**)",
    ),
    Formula(
        "satisfaction",
        "满意率",
        "Satisfaction",
        "评价为“满意”或“基本满意”的件数",
        "cases rated satisfied or basically satisfied",
        "已评价件数（以最近一次评价为准）",
        "cases with a rating (the latest one)",
        numerator_doc="cases rated `satisfied` or `basically_satisfied`",
        denominator_doc="cases with a rating (the latest score)",
    ),
    Formula(
        "reopen_rate",
        "重办率",
        "Reopen rate",
        "至少被重新办理过一次的件数",
        "cases reopened at least once",
        "至少办结过一次的件数（已办结、已结案或曾被重办）",
        "cases resolved at least once (resolved, closed or reopened)",
        numerator_doc="cases with at least one `CaseEvent` whose `to_status = 'reopened'`",
        denominator_doc="cases resolved at least once: `resolved_at` or `closed_at` set, or reopened",
    ),
    Formula(
        "overdue_open",
        "超期未办",
        "Overdue open",
        "已超过办理时限仍未办结的件数",
        "open cases past their deadline",
        "—（计数）",
        "— (a count)",
        numerator_doc="open cases with `due_at < now`",
        denominator_doc="— (a count)",
    ),
    Formula(
        "handling_time",
        "平均办理时长",
        "Mean handling time",
        "已办结工单自受理至办结的小时数的平均值",
        "mean of the hours from receipt to resolution",
        "有办结时间的已办结工单",
        "over resolved cases with a resolution time",
        numerator_doc="mean of `resolved_at − created_at` in hours",
        denominator_doc="over resolved cases with `resolved_at`",
    ),
    Formula(
        "p90_h",
        "P90 办理时长",
        "p90 handling time",
        "同一组小时数的第 90 百分位数（线性插值）",
        "the 90th percentile of the same hours (linear interpolation)",
        "同上",
        "same",
        numerator_doc=(
            "the 0.9 percentile (linear interpolation, as PostgreSQL's `percentile_cont(0.9)`) of the same hours"
        ),
        denominator_doc="same",
        doc_label="p90 handling time",
    ),
)


def notes(sign_deadline_h: float) -> tuple[tuple[str, str], ...]:
    """How the figures are rounded and what H is, (zh, en) each."""
    h = f"{sign_deadline_h:g}"
    return (
        (
            f"签收时限 H = {h} 小时，自受理时起按自然小时计。",
            f"Sign deadline H = {h} hours, in calendar hours from receipt.",
        ),
        (
            "比率 = 分子 ÷ 分母，以百分比显示；分母为 0 时显示“—”。时长以整秒计，换算为小时，保留 2 位小数。",
            "Rate = numerator ÷ denominator, shown as a percentage; “—” when the denominator is 0. Durations are "
            "whole seconds in hours, to 2 decimals.",
        ),
    )


def markdown_table() -> str:
    """The Formulas table of docs/kpis.md."""
    lines = ["| KPI | Numerator | Denominator |", "|---|---|---|"]
    lines += [f"| {f.doc_label or f'{f.en} ({f.zh})'} | {f.numerator_doc} | {f.denominator_doc} |" for f in FORMULAS]
    return "\n".join(lines) + "\n"
