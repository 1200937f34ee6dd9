"""User-facing texts of notifications and e-mails, per language (Jinja2, plain text).

TEXTS[locale][kind][audience] = (title, body). Variables: ref (short complaint reference), company
(trade name, may be empty), deadline (local date), days_left, upheld, resolution, score, link.
A later issue moves these into gettext catalogs (Babel); keep them plain until then.
"""
from functools import lru_cache

import jinja2

_env = jinja2.Environment(autoescape=False, undefined=jinja2.ChainableUndefined, keep_trailing_newline=False)

_COMPANY_PT = "{% if company %} contra {{ company }}{% endif %}"
_COMPANY_ES = "{% if company %} contra {{ company }}{% endif %}"
_COMPANY_EN = "{% if company %} against {{ company }}{% endif %}"

TEXTS = {
    "pt-BR": {
        "complaint_filed": {
            "company": ("Nova reclamação {{ ref }}",
                        "Uma nova reclamação foi registrada contra a sua empresa. Responda até {{ deadline }}."),
            "consumer": ("Reclamação {{ ref }} registrada",
                         "Sua reclamação" + _COMPANY_PT + " foi registrada. A empresa tem até {{ deadline }} para responder."),
        },
        "complaint_answered": {
            "consumer": ("A empresa respondeu à reclamação {{ ref }}",
                         "{{ company or 'A empresa' }} respondeu. Avalie o atendimento até {{ deadline }}."),
        },
        "complaint_refused": {
            "consumer": ("Reclamação {{ ref }} recusada pela empresa",
                         "A empresa recusou a reclamação. Um órgão de defesa do consumidor vai analisar a recusa."),
            "authority": ("Recusa a analisar: reclamação {{ ref }}",
                          "Uma empresa recusou a reclamação {{ ref }}. A recusa aguarda a sua análise."),
        },
        "complaint_refusal_reviewed": {
            "consumer": ("Recusa analisada: reclamação {{ ref }}",
                         "{% if upheld %}A recusa foi aceita e a reclamação foi cancelada.{% else %}A recusa não foi aceita: a empresa deve responder até {{ deadline }}.{% endif %}"),
            "company": ("Recusa analisada: reclamação {{ ref }}",
                        "{% if upheld %}A recusa foi aceita e a reclamação foi cancelada.{% else %}A recusa não foi aceita. Responda até {{ deadline }}.{% endif %}"),
        },
        "complaint_unanswered": {
            "consumer": ("Reclamação {{ ref }} sem resposta",
                         "A empresa não respondeu no prazo. Você pode avaliar a reclamação até {{ deadline }}."),
            "company": ("Prazo perdido: reclamação {{ ref }}",
                        "O prazo de resposta da reclamação {{ ref }} terminou sem resposta."),
        },
        "complaint_message_added": {
            "consumer": ("Nova mensagem na reclamação {{ ref }}", "Há uma nova mensagem na sua reclamação."),
            "company": ("Nova mensagem na reclamação {{ ref }}", "O consumidor enviou uma nova mensagem."),
        },
        "complaint_evaluated": {
            "company": ("Reclamação {{ ref }} avaliada",
                        "O consumidor avaliou o atendimento: {% if resolution == 'resolved' %}resolvida{% else %}não resolvida{% endif %}, nota {{ score }}."),
        },
        "complaint_finalised": {
            "consumer": ("Reclamação {{ ref }} finalizada", "A reclamação foi finalizada."),
            "company": ("Reclamação {{ ref }} finalizada", "A reclamação foi finalizada."),
        },
        "complaint_cancelled": {
            "consumer": ("Reclamação {{ ref }} cancelada", "A reclamação foi cancelada."),
            "company": ("Reclamação {{ ref }} cancelada", "A reclamação foi cancelada."),
        },
        "deadline_reminder": {
            "company": ("Prazo terminando: reclamação {{ ref }}",
                        "Faltam {{ days_left }} dia(s) para responder à reclamação {{ ref }} (até {{ deadline }})."),
            "consumer": ("Avalie a reclamação {{ ref }}",
                         "Faltam {{ days_left }} dia(s) para avaliar o atendimento (até {{ deadline }})."),
        },
        "_email": ("Olá{% if name %}, {{ name }}{% endif %}.\n\n{{ body }}\n{% if link %}\n{{ link }}\n{% endif %}\n"
                   "--\nConcilia. Você pode mudar as suas preferências de e-mail na página de notificações."),
    },
    "es-AR": {
        "complaint_filed": {
            "company": ("Nuevo reclamo {{ ref }}",
                        "Se registró un nuevo reclamo contra su empresa. Responda hasta el {{ deadline }}."),
            "consumer": ("Reclamo {{ ref }} registrado",
                         "Su reclamo" + _COMPANY_ES + " fue registrado. La empresa tiene hasta el {{ deadline }} para responder."),
        },
        "complaint_answered": {
            "consumer": ("La empresa respondió el reclamo {{ ref }}",
                         "{{ company or 'La empresa' }} respondió. Califique la atención hasta el {{ deadline }}."),
        },
        "complaint_refused": {
            "consumer": ("Reclamo {{ ref }} rechazado por la empresa",
                         "La empresa rechazó el reclamo. Una autoridad de defensa del consumidor revisará el rechazo."),
            "authority": ("Rechazo a revisar: reclamo {{ ref }}",
                          "Una empresa rechazó el reclamo {{ ref }}. El rechazo espera su revisión."),
        },
        "complaint_refusal_reviewed": {
            "consumer": ("Rechazo revisado: reclamo {{ ref }}",
                         "{% if upheld %}El rechazo fue aceptado y el reclamo fue cancelado.{% else %}El rechazo no fue aceptado: la empresa debe responder hasta el {{ deadline }}.{% endif %}"),
            "company": ("Rechazo revisado: reclamo {{ ref }}",
                        "{% if upheld %}El rechazo fue aceptado y el reclamo fue cancelado.{% else %}El rechazo no fue aceptado. Responda hasta el {{ deadline }}.{% endif %}"),
        },
        "complaint_unanswered": {
            "consumer": ("Reclamo {{ ref }} sin respuesta",
                         "La empresa no respondió a tiempo. Puede calificar el reclamo hasta el {{ deadline }}."),
            "company": ("Plazo vencido: reclamo {{ ref }}",
                        "El plazo para responder el reclamo {{ ref }} venció sin respuesta."),
        },
        "complaint_message_added": {
            "consumer": ("Nuevo mensaje en el reclamo {{ ref }}", "Hay un nuevo mensaje en su reclamo."),
            "company": ("Nuevo mensaje en el reclamo {{ ref }}", "El consumidor envió un nuevo mensaje."),
        },
        "complaint_evaluated": {
            "company": ("Reclamo {{ ref }} calificado",
                        "El consumidor calificó la atención: {% if resolution == 'resolved' %}resuelto{% else %}no resuelto{% endif %}, puntaje {{ score }}."),
        },
        "complaint_finalised": {
            "consumer": ("Reclamo {{ ref }} finalizado", "El reclamo fue finalizado."),
            "company": ("Reclamo {{ ref }} finalizado", "El reclamo fue finalizado."),
        },
        "complaint_cancelled": {
            "consumer": ("Reclamo {{ ref }} cancelado", "El reclamo fue cancelado."),
            "company": ("Reclamo {{ ref }} cancelado", "El reclamo fue cancelado."),
        },
        "deadline_reminder": {
            "company": ("Plazo por vencer: reclamo {{ ref }}",
                        "Quedan {{ days_left }} día(s) para responder el reclamo {{ ref }} (hasta el {{ deadline }})."),
            "consumer": ("Califique el reclamo {{ ref }}",
                         "Quedan {{ days_left }} día(s) para calificar la atención (hasta el {{ deadline }})."),
        },
        "_email": ("Hola{% if name %}, {{ name }}{% endif %}.\n\n{{ body }}\n{% if link %}\n{{ link }}\n{% endif %}\n"
                   "--\nConcilia. Puede cambiar sus preferencias de correo en la página de notificaciones."),
    },
    "en": {
        "complaint_filed": {
            "company": ("New complaint {{ ref }}",
                        "A new complaint was filed against your company. Answer by {{ deadline }}."),
            "consumer": ("Complaint {{ ref }} filed",
                         "Your complaint" + _COMPANY_EN + " was filed. The company has until {{ deadline }} to answer."),
        },
        "complaint_answered": {
            "consumer": ("The company answered complaint {{ ref }}",
                         "{{ company or 'The company' }} answered. Please evaluate it by {{ deadline }}."),
        },
        "complaint_refused": {
            "consumer": ("Complaint {{ ref }} refused by the company",
                         "The company refused the complaint. A consumer-protection authority will review the refusal."),
            "authority": ("Refusal to review: complaint {{ ref }}",
                          "A company refused complaint {{ ref }}. The refusal awaits your review."),
        },
        "complaint_refusal_reviewed": {
            "consumer": ("Refusal reviewed: complaint {{ ref }}",
                         "{% if upheld %}The refusal was upheld and the complaint was cancelled.{% else %}The refusal was rejected: the company must answer by {{ deadline }}.{% endif %}"),
            "company": ("Refusal reviewed: complaint {{ ref }}",
                        "{% if upheld %}The refusal was upheld and the complaint was cancelled.{% else %}The refusal was rejected. Answer by {{ deadline }}.{% endif %}"),
        },
        "complaint_unanswered": {
            "consumer": ("Complaint {{ ref }} unanswered",
                         "The company did not answer in time. You can evaluate the complaint by {{ deadline }}."),
            "company": ("Deadline missed: complaint {{ ref }}",
                        "The answer window of complaint {{ ref }} closed without an answer."),
        },
        "complaint_message_added": {
            "consumer": ("New message on complaint {{ ref }}", "There is a new message on your complaint."),
            "company": ("New message on complaint {{ ref }}", "The consumer sent a new message."),
        },
        "complaint_evaluated": {
            "company": ("Complaint {{ ref }} evaluated",
                        "The consumer evaluated it: {% if resolution == 'resolved' %}resolved{% else %}not resolved{% endif %}, score {{ score }}."),
        },
        "complaint_finalised": {
            "consumer": ("Complaint {{ ref }} finalised", "The complaint was finalised."),
            "company": ("Complaint {{ ref }} finalised", "The complaint was finalised."),
        },
        "complaint_cancelled": {
            "consumer": ("Complaint {{ ref }} cancelled", "The complaint was cancelled."),
            "company": ("Complaint {{ ref }} cancelled", "The complaint was cancelled."),
        },
        "deadline_reminder": {
            "company": ("Deadline approaching: complaint {{ ref }}",
                        "{{ days_left }} day(s) left to answer complaint {{ ref }} (until {{ deadline }})."),
            "consumer": ("Please evaluate complaint {{ ref }}",
                         "{{ days_left }} day(s) left to evaluate the company's answer (until {{ deadline }})."),
        },
        "_email": ("Hello{% if name %}, {{ name }}{% endif %}.\n\n{{ body }}\n{% if link %}\n{{ link }}\n{% endif %}\n"
                   "--\nConcilia. You can change your e-mail preferences on the notifications page."),
    },
}

LOCALES = tuple(TEXTS)


@lru_cache(maxsize=None)
def _template(source: str) -> jinja2.Template:
    return _env.from_string(source)


def render(locale: str, kind: str, audience: str, **context) -> tuple[str, str]:
    """(title, body) of a notification in `locale` (one of LOCALES)."""
    title, body = TEXTS[locale][kind][audience]
    return _template(title).render(**context).strip(), _template(body).render(**context).strip()


def render_email(locale: str, body: str, name: str = "", link: str = "") -> str:
    return _template(TEXTS[locale]["_email"]).render(body=body, name=name, link=link)
