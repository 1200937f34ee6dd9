"""JSON-lines logging with the current trace and span ids, and a last-line personal-data filter."""
import json
import logging
import os
import re
import sys
import time

from opentelemetry import trace

# Defence in depth: services must not log personal data at all, but if an e-mail address or a
# national-ID-like digit run slips into a message it is masked before it leaves the process.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# Not inside longer tokens such as UUIDs or hex ids.
_ID_DIGITS = re.compile(r"(?<![0-9A-Za-z-])(\d[\d.\-/]{9,17}\d)(?![0-9A-Za-z-])")


def redact(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    return _ID_DIGITS.sub(lambda m: "<id>" if sum(c.isdigit() for c in m.group(1)) >= 8 else m.group(1), text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(service: str, level: str | None = None) -> None:
    level = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("LOG_FORMAT", "json") == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("kombu", "amqp", "nameko", "urllib3", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
