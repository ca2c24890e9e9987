"""Text tables of usage and keys, for `imagegen usage` and `imagegen admin keys`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns as wide as their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in cells)])


def usage_table(usage: dict[str, Any]) -> str:
    """GET /v1/usage's answer (or `admin keys usage`'s, the same shape) as people read it."""
    lines = [f"team {usage['team']}: usage from {usage['from']} to {usage['to']} (UTC days)", ""]
    if not usage.get("days"):
        lines += ["no requests in this range", ""]
    else:
        days = [_counted(day["date"], day) for day in usage["days"]]
        lines += [table(("DATE", "REQUESTS", "IMAGES", "USD"), days), ""]
        totals = {name: sum(model[name] for model in usage["models"]) for name in ("requests", "images", "usd")}
        rows = [_counted(model["model"], model) for model in usage["models"]] + [_counted("total", totals)]
        lines += [table(("MODEL", "REQUESTS", "IMAGES", "USD"), rows), ""]
    lines.append(month_line(usage["month"]))
    return "\n".join(lines)


def month_line(month: dict[str, Any]) -> str:
    budget = month.get("budgetUsd")
    spent = f"{money(month['spentUsd'])} " + (f"of a {money(budget)} USD budget" if budget is not None else "USD")
    committed = f"{money(month['committedUsd'])} committed: spent and reserved"
    return (
        f"month {month['month']}: {spent} spent ({committed})"
        + ("" if budget is not None else ", no budget")
        + f"; resets {month['resetsAt']}"
    )


def keys_table(teams: list[dict[str, Any]]) -> str:
    """`imagegen admin keys list`: a team per row, its keys by id (never their values)."""
    if not teams:
        return "no teams"
    rows = []
    for team in teams:
        keys = ", ".join(f"{key['id']} ({'enabled' if key['enabled'] else 'disabled'})" for key in team["keys"]) or "-"
        quota = team.get("quota")
        throttle = team.get("throttle")
        rows.append(
            (
                team["team"] + (" (revoked)" if team.get("revoked") else ""),
                keys,
                f"{quota['limit']}/{quota['period'].lower()}" if quota else "-",
                f"{throttle['rateLimit']:g}/s burst {throttle['burstLimit']}" if throttle else "-",
                money(team["budgetUsd"]) if team.get("budgetUsd") is not None else "-",
                money(team["spentUsd"]),
                money(team["committedUsd"]),
            )
        )
    month = teams[0]["month"]
    headers = ("TEAM", "KEYS", "QUOTA", "THROTTLE", "BUDGET USD", f"SPENT {month}", "COMMITTED")
    return table(headers, rows)


def money(value: float | None) -> str:
    """0.04 -> "0.04", 150.0 -> "150", 0.0035 -> "0.0035": a sum as people write it."""
    if value is None:
        return "-"
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if "." not in text or len(text.split(".")[1]) >= 2 else f"{value:.2f}"


def _counted(label: str, counts: dict[str, Any]) -> tuple[Any, ...]:
    return label, counts["requests"], counts["images"], f"{counts['usd']:.4f}"


def _is_number(value: Any) -> bool:
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True
