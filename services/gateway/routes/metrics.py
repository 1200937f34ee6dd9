"""Public indicators, rankings and open data over HTTP (no login: public data, never personal)."""
from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from concilia.metrics.v1 import metrics_pb2

from ..clients import call
from ..convert import int_arg, to_json
from ..errors import ApiError

bp = Blueprint("metrics", __name__)

SCOPES = {"companies": metrics_pb2.SCOPE_COMPANY, "segments": metrics_pb2.SCOPE_SEGMENT,
          "regions": metrics_pb2.SCOPE_REGION}


def _metrics():
    return current_app.extensions["concilia"].clients.metrics


def _scope(kind: str) -> int:
    if kind not in SCOPES:
        raise ApiError(404, "NOT_FOUND", "no such resource")
    return SCOPES[kind]



def _indicators(scope: int, key: str = ""):
    response = call(_metrics().GetIndicators, metrics_pb2.GetIndicatorsRequest(
        scope=scope, key=key, period_from=request.args.get("period_from", ""),
        period_to=request.args.get("period_to", "")))
    return jsonify(to_json(response))


def _trend(scope: int, key: str = ""):
    response = call(_metrics().GetTrend, metrics_pb2.GetTrendRequest(
        scope=scope, key=key, month_from=request.args.get("month_from", ""),
        month_to=request.args.get("month_to", "")))
    return jsonify(to_json(response))


@bp.get("/api/v1/indicators")
def national_indicators():
    return _indicators(metrics_pb2.SCOPE_NATIONAL)


@bp.get("/api/v1/indicators/trend")
def national_trend():
    return _trend(metrics_pb2.SCOPE_NATIONAL)


@bp.get("/api/v1/indicators/<kind>/<key>")
def scoped_indicators(kind, key):
    return _indicators(_scope(kind), key)


@bp.get("/api/v1/indicators/<kind>/<key>/trend")
def scoped_trend(kind, key):
    return _trend(_scope(kind), key)


@bp.get("/api/v1/rankings/<segment_code>")
def ranking(segment_code):
    response = call(_metrics().GetRanking, metrics_pb2.GetRankingRequest(
        segment_code=segment_code, period_from=request.args.get("period_from", ""),
        period_to=request.args.get("period_to", ""), min_complaints=int_arg("min_complaints", minimum=0)))
    return jsonify(to_json(response))


@bp.get("/api/v1/open-data/<month>.csv")
def open_data(month):
    stream = call(_metrics().ExportOpenData, metrics_pb2.ExportOpenDataRequest(month=month),
                  timeout=300)
    first = next(stream, None)  # errors (bad month) surface here, before any byte is sent

    def chunks():
        if first is not None:
            yield first.chunk
        for item in stream:
            yield item.chunk

    return Response(stream_with_context(chunks()), content_type="text/csv; charset=windows-1252",
                    headers={"Content-Disposition": f'attachment; filename="concilia-{month}.csv"'})
