"""UI text in Simplified Chinese and English, and the choice between them."""

from __future__ import annotations

from typing import Iterable

LANG_COOKIE = "linewatch_lang"  # ?lang= on the page sticks in this cookie
LANG_COOKIE_AGE_S = 365 * 24 * 3600

TEXT = {
    "en": {
        "title": "LineWatch",
        "subtitle": "Live defect monitoring",
        "controls": "Controls",
        "prob_threshold": "Defect (scratch) probability threshold",
        "value_threshold": "Value threshold (value / 100)",
        "period": "Update period",
        "seconds": "s",
        "window": "Window (points)",
        "window_invalid": "Enter a whole number from 10 to 100000.",
        "pause": "Pause",
        "resume": "Resume",
        "dark_theme": "Dark theme",
        "kpi_value": "Current value",
        "kpi_anomalies": "Anomalies, last 5 min",
        "kpi_defect_rate": "Defect rate (window)",
        "kpi_throughput": "Throughput",
        "kpi_status": "Stream status",
        "unit_points_per_s": "points/s",
        "unit_events": "events",
        "of_window": "of {n} points",
        "delta": "Δ vs previous",
        "status_live": "Live",
        "status_paused": "Paused",
        "status_waiting": "Waiting for data…",
        "status_stale": "Stale: no data for {s} s",
        "status_error": "Source error",
        "status_reconnecting": "Source reconnecting",
        "status_offline": "Server unreachable",
        "status_unavailable": "Store unavailable",
        "chart_title": "Inspection stream",
        "axis_time": "Time",
        "axis_value": "Value",
        "axis_prob": "Defect probability",
        "trace_value": "Value",
        "trace_prob": "Defect probability",
        "trace_anomaly": "Anomaly",
        "line_value_threshold": "value threshold",
        "line_prob_threshold": "probability threshold",
        "alerts": "Latest anomalies",
        "export_csv": "Export CSV",
        "col_time": "Time",
        "col_value": "Value",
        "col_prob": "Defect probability",
        "col_seq": "Seq",
        "no_alerts": "No anomalies in the current window",
        "waiting": "Waiting for data…",
        "error_prefix": "Error",
        "language": "中文",
        "source": "Source",
        "source_starting": "starting",
        "source_running": "running",
        "source_reconnecting": "reconnecting",
        "source_error": "error",
        "source_finished": "finished",
        "source_stopped": "stopped",
        "rejected": "{n} points rejected",
        "history": "History of the window:",
    },
    "zh": {
        "title": "LineWatch",
        "subtitle": "实时缺陷监测",
        "controls": "控制面板",
        "prob_threshold": "划痕（缺陷）概率阈值",
        "value_threshold": "显示阈值（数值 / 100）",
        "period": "更新频率",
        "seconds": "秒",
        "window": "窗口长度（点）",
        "window_invalid": "请输入 10 到 100000 之间的整数。",
        "pause": "停止监控",
        "resume": "继续监控",
        "dark_theme": "深色主题",
        "kpi_value": "当前值",
        "kpi_anomalies": "异常事件数（近 5 分钟）",
        "kpi_defect_rate": "缺陷率（窗口内）",
        "kpi_throughput": "吞吐量",
        "kpi_status": "数据流状态",
        "unit_points_per_s": "点/秒",
        "unit_events": "次",
        "of_window": "共 {n} 个点",
        "delta": "较上一点",
        "status_live": "实时",
        "status_paused": "已暂停",
        "status_waiting": "等待数据输入…",
        "status_stale": "数据中断：{s} 秒无新数据",
        "status_error": "数据源错误",
        "status_reconnecting": "数据源重新连接中",
        "status_offline": "无法连接服务器",
        "status_unavailable": "数据存储不可用",
        "chart_title": "检测数据流",
        "axis_time": "时间",
        "axis_value": "检测值",
        "axis_prob": "缺陷概率",
        "trace_value": "实时数据流",
        "trace_prob": "缺陷概率",
        "trace_anomaly": "异常检测点",
        "line_value_threshold": "显示阈值",
        "line_prob_threshold": "概率阈值",
        "alerts": "最新异常事件",
        "export_csv": "导出 CSV",
        "col_time": "时间",
        "col_value": "检测值",
        "col_prob": "缺陷概率",
        "col_seq": "序号",
        "no_alerts": "当前窗口内暂无异常事件",
        "waiting": "等待数据输入…",
        "error_prefix": "运行时错误",
        "language": "English",
        "source": "数据源",
        "source_starting": "启动中",
        "source_running": "运行中",
        "source_reconnecting": "重新连接中",
        "source_error": "错误",
        "source_finished": "已播放完",
        "source_stopped": "已停止",
        "rejected": "已拒收 {n} 个点",
        "history": "窗口历史数据：",
    },
}


def choose_lang(configured: str, requested: str | None, accepted: Iterable[str]) -> str:
    """``requested`` (?lang=) wins, then a fixed ``configured`` language, then the browser's."""
    if requested in TEXT:
        return requested
    if configured in TEXT:
        return configured
    for tag in accepted:
        primary = tag.lower().split("-")[0]
        if primary in TEXT:
            return primary
    return "en"


def labels(lang: str) -> dict[str, str]:
    return TEXT[lang]
