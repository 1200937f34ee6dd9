"""The Consumidor.gov.br open-data monthly CSV layout (2014-2015, 23 columns).

Facts about the format (see /work/shared/data/SOURCES.md): Windows-1252, `;` delimiter, no quoting,
CRLF line endings, values padded like CHAR fields (trailing spaces), `Data Resposta` and
`Tempo Resposta` empty for unanswered rows, `Nota do Consumidor` empty for not-evaluated rows.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import NamedTuple, Optional

LAYOUT_ID = "consumidor-gov-br-2014"
ENCODING = "cp1252"  # not latin-1: 0x96 (en dash) occurs in real files
DELIMITER = ";"
NEWLINE = "\r\n"

HEADER = ("Região;UF;Cidade;Sexo;Faixa Etária;Ano Abertura;Mês Abertura;Data Abertura;"
          "Data Resposta;Data Finalização;Tempo Resposta;Nome Fantasia;Segmento de Mercado;"
          "Área;Assunto;Grupo Problema;Problema;Como Comprou Contratou;Procurou Empresa;"
          "Respondida;Situação;Avaliação Reclamação;Nota do Consumidor")
COLUMNS = tuple(HEADER.split(DELIMITER))
N_COLUMNS = len(COLUMNS)  # 23

# Column positions (0-based) used by the reader and the writer.
(C_REGION, C_UF, C_CITY, C_SEX, C_AGE, C_OPENED_YEAR, C_OPENED_MONTH, C_OPENED_ON, C_ANSWERED_ON,
 C_FINALISED_ON, C_ANSWER_DAYS, C_COMPANY, C_SEGMENT, C_AREA, C_SUBJECT, C_PROBLEM_GROUP, C_PROBLEM,
 C_HOW_BOUGHT, C_CONTACTED_COMPANY, C_ANSWERED, C_STATUS, C_EVALUATION, C_SCORE) = range(N_COLUMNS)

# Closed value sets of this layout. Anything else is rejected rather than guessed.
REGIONS = ("N", "NE", "CO", "SE", "S")
UFS = ("AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB",
       "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO")
SEXES = ("M", "F")
YES, NO = "S", "N"

STATUS_EVALUATED = "Finalizada avaliada"
STATUS_NOT_EVALUATED = "Finalizada não avaliada"
STATUSES = (STATUS_EVALUATED, STATUS_NOT_EVALUATED)

RESOLVED = "Resolvida"
NOT_RESOLVED = "Não Resolvida"
NOT_EVALUATED = "Não Avaliada"
EVALUATIONS = (RESOLVED, NOT_RESOLVED, NOT_EVALUATED)

SCORES = (1, 2, 3, 4, 5)
DATE_FORMAT = "%d/%m/%Y"

# Widths of the columns that are fixed-width CHAR fields in the source: only Região ("N ", "S ").
# Other trailing spaces come from individual catalogue names ("Vivo - Telefônica ") and cannot be
# derived from the value; see writer.py for how to reproduce them.
FIXED_WIDTH = {C_REGION: 2}


class Complaint(NamedTuple):
    """One finalised complaint of the open-data file, typed and with stripped strings."""
    region: str
    uf: str
    city: str
    sex: str
    age_range: str
    opened_year: int
    opened_month: int
    opened_on: datetime.date
    answered_on: Optional[datetime.date]   # None when the company never answered
    finalised_on: datetime.date
    answer_days: Optional[int]             # Tempo Resposta: excludes refusal-review time
    company: str                           # Nome Fantasia
    segment: str
    area: str
    subject: str
    problem_group: str
    problem: str
    how_bought: str
    contacted_company: bool                # Procurou Empresa
    answered: bool                         # Respondida
    status: str                            # Situação
    evaluation: str                        # Avaliação Reclamação
    score: Optional[int]                   # Nota do Consumidor, None when not evaluated


@dataclass(frozen=True, eq=False, slots=True)
class Outcome:
    """The columns the indicators need, besides the grouping keys. Only a few dozen combinations
    exist, so a reader shares one instance per combination; eq=False keeps the identity hash,
    which makes Counter(zip(keys, outcomes)) cheap. Compare fields, not instances."""
    answered: bool
    status: str
    evaluation: str
    score: Optional[int]
    answer_days: Optional[int]
