"""Public pages (no login): national figures, company profiles with a monthly trend chart, and
rankings by segment. Server-rendered; the chart is inline SVG (no JavaScript)."""
from datetime import date

from flask import Blueprint, current_app, render_template, request

from concilia.metrics.v1 import metrics_pb2

from ..clients import call

bp = Blueprint("pages_public", __name__)

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 220, 36


def _metrics():
    return current_app.extensions["concilia"].clients.metrics


def _period() -> dict:
    return {"period_from": request.args.get("period_from", ""), "period_to": request.args.get("period_to", "")}


def month_start(month: str) -> date:
    """"2026-03" (the metrics service's months) -> 1 March 2026, shown with |format_date('MMM y')."""
    return date.fromisoformat(f"{month}-01")


def trend_chart(points) -> dict:
    """Coordinates of the monthly solution-index lines (official and strict), 0-100 % on y."""
    points = [p for p in points if p.indicators.complaints]
    if not points:
        return {}
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    step = inner_w / max(len(points) - 1, 1)

    def y(fraction):
        return round(CHART_PAD + inner_h * (1 - fraction), 1)

    xs = [round(CHART_PAD + i * step, 1) for i in range(len(points))]
    return {
        "width": CHART_WIDTH, "height": CHART_HEIGHT, "pad": CHART_PAD,
        "official": " ".join(f"{x},{y(p.indicators.solution_index)}" for x, p in zip(xs, points)),
        "strict": " ".join(f"{x},{y(p.indicators.strict_solution_index)}" for x, p in zip(xs, points)),
        "labels": [{"x": x, "day": month_start(p.month)} for x, p in zip(xs, points)],
        "grid": [{"y": y(f), "fraction": f} for f in (0, .25, .5, .75, 1)],
        "dots": [{"x": x, "y": y(p.indicators.solution_index), "day": month_start(p.month),
                  "value": p.indicators.solution_index} for x, p in zip(xs, points)],
    }


@bp.get("/indicators")
def national():
    response = call(_metrics().GetIndicators, metrics_pb2.GetIndicatorsRequest(
        scope=metrics_pb2.SCOPE_NATIONAL, **_period()))
    trend = call(_metrics().GetTrend, metrics_pb2.GetTrendRequest(scope=metrics_pb2.SCOPE_NATIONAL))
    companies = sorted(response.by_company.items(), key=lambda kv: -kv[1].complaints)[:50]
    segments = sorted(response.by_segment.items(), key=lambda kv: -kv[1].complaints)
    return render_template("public/national.html", figures=response.indicators, companies=companies,
                           company_names=response.company_names, segments=segments,
                           segment_names=response.segment_names, chart=trend_chart(trend.points),
                           period=_period())


@bp.get("/companies/<company_id>")
def company(company_id):
    response = call(_metrics().GetIndicators, metrics_pb2.GetIndicatorsRequest(
        scope=metrics_pb2.SCOPE_COMPANY, key=company_id, **_period()))
    trend = call(_metrics().GetTrend, metrics_pb2.GetTrendRequest(scope=metrics_pb2.SCOPE_COMPANY,
                                                                  key=company_id))
    return render_template("public/company.html", name=response.name, segment_code=response.segment_code,
                           figures=response.indicators, points=trend.points, month_start=month_start,
                           chart=trend_chart(trend.points), period=_period())


@bp.get("/rankings")
def rankings():
    response = call(_metrics().GetIndicators, metrics_pb2.GetIndicatorsRequest(
        scope=metrics_pb2.SCOPE_NATIONAL))
    segments = sorted(response.segment_names.items(), key=lambda kv: kv[1])
    return render_template("public/rankings.html", segments=segments, by_segment=response.by_segment)


@bp.get("/rankings/<segment_code>")
def ranking(segment_code):
    try:
        min_complaints = max(int(request.args.get("min_complaints", "10")), 0)
    except ValueError:
        min_complaints = 10
    response = call(_metrics().GetRanking, metrics_pb2.GetRankingRequest(
        segment_code=segment_code, min_complaints=min_complaints, **_period()))
    return render_template("public/ranking.html", segment_code=segment_code,
                           segment_name=response.segment_name, entries=response.entries,
                           min_complaints=min_complaints, period=_period())
