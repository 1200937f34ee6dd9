"""Public pages of the company registry: the participating companies and a company's profile.

The profile lives at /companies/<id>/profile because /companies/<id> is the public indicators page
(pages/public.py); the profile links to it when that page exists.
"""
import grpc
from flask import Blueprint, abort, current_app, render_template, request, url_for

from concilia.company_registry.v1 import company_registry_pb2 as pb

from ..clients import call

bp = Blueprint("pages_registry", __name__)

# Page texts by language; the deployment's language comes from the country pack.
TEXTS = {
    "pt": {"indicators": "Indicadores de atendimento",
           "title": "Empresas participantes", "search": "Nome da empresa", "segment": "Segmento",
           "all_segments": "Todos os segmentos", "filter": "Filtrar", "none": "Nenhuma empresa encontrada.",
           "next": "Próxima página", "group": "Grupo econômico",
           "legal_name": "Razão social", "status": "Situação", "since": "Na plataforma desde",
           "back": "Todas as empresas", "reason": "Motivo",
           "statuses": {"active": "Participante", "suspended": "Suspensa", "pending": "Adesão em análise"}},
    "es": {"indicators": "Indicadores de atención",
           "title": "Empresas adheridas", "search": "Nombre de la empresa", "segment": "Rubro",
           "all_segments": "Todos los rubros", "filter": "Filtrar", "none": "No se encontraron empresas.",
           "next": "Página siguiente", "group": "Grupo económico",
           "legal_name": "Razón social", "status": "Estado", "since": "En la plataforma desde",
           "back": "Todas las empresas", "reason": "Motivo",
           "statuses": {"active": "Adherida", "suspended": "Suspendida", "pending": "Adhesión en análisis"}},
    "en": {"indicators": "Complaint indicators",
           "title": "Participating companies", "search": "Company name", "segment": "Market segment",
           "all_segments": "All segments", "filter": "Filter", "none": "No companies found.",
           "next": "Next page", "group": "Economic group",
           "legal_name": "Legal name", "status": "Status", "since": "On the platform since",
           "back": "All companies", "reason": "Reason",
           "statuses": {"active": "Participating", "suspended": "Suspended", "pending": "Application under review"}},
}
STATUS_WORDS = {pb.COMPANY_STATUS_PENDING: "pending", pb.COMPANY_STATUS_ACTIVE: "active",
                pb.COMPANY_STATUS_SUSPENDED: "suspended"}


def page_context() -> dict:
    pack = current_app.extensions["concilia"].pack
    language = pack.languages[0] if pack.languages else "en"
    return {"page_lang": language, "t": TEXTS.get(language.split("-")[0], TEXTS["en"]),
            "company_id_label": pack.company_id.label}


def segment_names() -> dict:
    registry = current_app.extensions["concilia"].clients.company_registry
    return {s.code: s.name for s in call(registry.ListSegments, pb.ListSegmentsRequest()).segments}


@bp.get("/companies")
def companies():
    """Participating (active) companies, searchable by name and segment."""
    registry = current_app.extensions["concilia"].clients.company_registry
    segments = segment_names()
    segment = request.args.get("segment", "")
    if segment not in segments:
        segment = ""
    name = request.args.get("q", "")[:200]
    try:
        response = call(registry.ListCompanies, pb.ListCompaniesRequest(
            status=pb.COMPANY_STATUS_ACTIVE, segment_code=segment, name_contains=name, page_size=20,
            page_token=request.args.get("page_token", "")))
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        abort(400)  # a stale or edited page token
    return render_template("registry/companies.html", companies=response.companies, segments=segments,
                           segment=segment, q=name, next_page_token=response.next_page_token, **page_context())


@bp.get("/companies/<company_id>/profile")
def company(company_id):
    registry = current_app.extensions["concilia"].clients.company_registry
    try:
        found = call(registry.GetCompany, pb.GetCompanyRequest(company_id=company_id)).company
    except grpc.RpcError as error:
        if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            abort(404)
        raise
    indicators_url = (url_for("pages_public.company", company_id=found.id)
                      if "pages_public.company" in current_app.view_functions else "")
    return render_template("registry/company.html", company=found, status=STATUS_WORDS.get(found.status, ""),
                           indicators_url=indicators_url,
                           segment_name=segment_names().get(found.segment_code, found.segment_code),
                           since=found.created_at.ToDatetime().date().isoformat(), **page_context())
