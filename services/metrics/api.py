"""Metrics gRPC api (public indicators, rankings, open-data export) and the SLA /metrics:
python -m services.metrics.api"""
import sys

from prometheus_client import REGISTRY

from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database
from concilia.chassis.grpc_server import full_names
from concilia.chassis.service import run_api
from concilia.metrics.v1 import metrics_pb2, metrics_pb2_grpc

from .domain import Metrics, Segments
from .settings import Settings
from .sla import SlaCollector

SCOPES = {metrics_pb2.SCOPE_NATIONAL: "national", metrics_pb2.SCOPE_COMPANY: "company",
          metrics_pb2.SCOPE_SEGMENT: "segment", metrics_pb2.SCOPE_REGION: "region"}


def indicators_message(figures: dict) -> metrics_pb2.Indicators:
    # Figures without a base (no complaints, none answered, none evaluated) are sent as 0;
    # `complaints`, `answered` and `evaluated` tell them apart.
    return metrics_pb2.Indicators(
        complaints=figures["complaints"], resolved=figures["resolved"],
        not_resolved=figures["not_resolved"], not_evaluated=figures["not_evaluated"],
        answered=figures["answered"], evaluated=figures["resolved"] + figures["not_resolved"],
        solution_index=figures["solution_index"] or 0.0,
        strict_solution_index=figures["strict_solution_index"] or 0.0,
        answered_share=figures["answered_share"] or 0.0, avg_answer_days=figures["avg_answer_days"] or 0.0,
        satisfaction=figures["satisfaction"] or 0.0, formula_version=figures["formula"])


class MetricsServicer(metrics_pb2_grpc.MetricsServiceServicer):
    """Public data: no token is required, and the answers never hold personal data."""

    def __init__(self, metrics: Metrics, export_chunk_rows: int):
        self.metrics = metrics
        self.export_chunk_rows = export_chunk_rows

    def GetIndicators(self, request, context):
        result = self.metrics.indicators(SCOPES.get(request.scope, ""), request.key,
                                         request.period_from, request.period_to)
        return metrics_pb2.GetIndicatorsResponse(
            indicators=indicators_message(result["indicators"]),
            by_company={k: indicators_message(v) for k, v in result["by_company"].items()},
            company_names=result["company_names"],
            by_segment={k: indicators_message(v) for k, v in result["by_segment"].items()},
            segment_names=result["segment_names"], name=result["name"],
            segment_code=result["segment_code"])

    def GetTrend(self, request, context):
        points = self.metrics.trend(SCOPES.get(request.scope, ""), request.key, request.month_from,
                                    request.month_to)
        return metrics_pb2.GetTrendResponse(points=[
            metrics_pb2.TrendPoint(month=month, indicators=indicators_message(figures))
            for month, figures in points])

    def GetRanking(self, request, context):
        segment_name, entries = self.metrics.ranking(request.segment_code, request.period_from,
                                                     request.period_to, request.min_complaints)
        return metrics_pb2.GetRankingResponse(segment_name=segment_name, entries=[
            metrics_pb2.RankingEntry(company_id=cid, company_name=name, indicators=indicators_message(f))
            for cid, name, f in entries])

    def ExportOpenData(self, request, context):
        for chunk in self.metrics.export(request.month, self.export_chunk_rows):
            yield metrics_pb2.ExportOpenDataResponse(chunk=chunk)


def build(settings: Settings):
    pack = load_pack(settings.country)
    segments = Segments.from_pack(pack)
    database = Database(settings.database_url, pool_size=settings.max_workers)
    metrics = Metrics(database, pack, segments)
    REGISTRY.register(SlaCollector(database, segments, pack.formula_version, clock_from_env()))

    def add(server):
        metrics_pb2_grpc.add_MetricsServiceServicer_to_server(
            MetricsServicer(metrics, settings.export_chunk_rows), server)
    # Public data only: no token verifier (nothing here depends on who asks).
    return full_names(metrics_pb2.DESCRIPTOR.services_by_name["MetricsService"]), add, None


def main() -> int:
    return run_api("metrics", Settings, build)


if __name__ == "__main__":
    sys.exit(main())
