"""A plain-text KPI board for the terminal (the run command prints it every few seconds)."""

from __future__ import annotations

from typing import Any

ROWS: tuple[tuple[str, str, str], ...] = (
    ("dials", "架電数", "n"),
    ("connects", "通話接続数", "n"),
    ("contacts", "コンタクト数", "n"),
    ("contact_rate", "コンタクト率", "%"),
    ("conversions", "成約数", "n"),
    ("conversion_rate", "成約率 (per dial)", "%"),
    ("abandoned", "放棄呼", "n"),
    ("abandon_rate", "放棄率", "%"),
    ("att_s", "平均通話時間 ATT", "s"),
    ("acw_s", "平均後処理時間 ACW", "s"),
    ("occupancy", "占有率", "%"),
)


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{100 * float(value):.1f}%"
    if unit == "s":
        return f"{float(value):.1f} s"
    return str(value)


def render(kpis: dict[str, Any], status: dict[str, Any] | None = None, title: str = "") -> str:
    lines = [title] if title else []
    if status:
        lines.append("  " + "  ".join(f"{k}={v}" for k, v in status.items() if k != "state"))
    for key, label, unit in ROWS:
        if key in kpis:
            lines.append(f"  {key:<16} {_fmt(kpis[key], unit):>10}   {label}")
    if not kpis:
        lines.append("  (no calls yet)")
    return "\n".join(lines)
