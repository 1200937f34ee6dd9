"""Metrics: public indicators (per company, segment, region and finalisation month), the live SLA
gauges, and the Brazilian open-data export/import. Owns one row per finalised complaint (never
personal data) and the aggregates derived from them."""
