"""Static checks of the Helm chart, the image recipe and the observability code, without a cluster:
helm lint --strict, helm template under every ci/ profile validated by kubernetes-validate --strict,
checkov with zero failed checks, two releases in one namespace, hardened containers, env/commands
as docs/developing.md says, NetworkPolicy edges, PrometheusRule unit tests with promtool, and the
metrics register kept in step with the code, rules and dashboards.

Tools come from scripts/install-helm.sh into .tools/ (once; later runs reuse them). A tool that
cannot be installed fails the test with the reason; nothing is skipped.
"""
import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import CHART, PROFILES, REPO, TOOLS, pod_specs, run

CRD_GROUPS = ("monitoring.coreos.com/",)
SERVICES = ["identity", "company_registry", "complaint", "notification", "metrics"]
PROFILE_IDS = [p.name.removesuffix("-values.yaml") for p in PROFILES]
RULE_TESTS = sorted(Path(__file__).parent.glob("rules-tests*.yaml"))


def is_crd(doc) -> bool:
    return doc["apiVersion"].startswith(CRD_GROUPS)


def by_kind(manifests, kind):
    return [d for d in manifests if d["kind"] == kind]


def containers_of(spec):
    return list(spec.get("initContainers", [])) + list(spec["containers"])


# --- lint, render, validate ------------------------------------------------------------------

def test_profiles_exist():
    assert {"minimal", "br", "ar", "full"} <= set(PROFILE_IDS), PROFILE_IDS


@pytest.mark.parametrize("profile", [None, *PROFILES], ids=["defaults", *PROFILE_IDS])
def test_helm_lint_strict(helm, profile):
    argv = [helm, "lint", "--strict", CHART] + (["-f", profile] if profile else [])
    result = run(argv)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_profile_renders_valid_kubernetes(render, profile, tmp_path):
    manifests = render("concilia", profile)
    plain = [d for d in manifests if not is_crd(d)]
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(plain))
    for version in ("1.30.0", "1.33.0"):
        result = run([REPO / ".venv" / "bin" / "kubernetes-validate", "--strict", "--quiet",
                      "-k", version, path])
        assert result.returncode == 0, f"kubernetes {version}:\n{result.stdout}{result.stderr}"


def test_kubernetes_validate_catches_mistakes(tmp_path):
    """The validator really rejects an unknown field (otherwise the test above proves nothing)."""
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"ports": [{"port": 1, "targetPortt": 2}]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = run([REPO / ".venv" / "bin" / "kubernetes-validate", "--strict", "--quiet", path])
    assert result.returncode != 0


def test_crds_are_well_formed_and_select_what_exists(render):
    """ServiceMonitor/PodMonitor/PrometheusRule have no offline schema: check them by assertion."""
    manifests = render("br", CHART / "values-br.yaml")
    kinds = {d["kind"]: d for d in manifests if is_crd(d)}
    assert set(kinds) == {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    services = by_kind(manifests, "Service")
    monitor = kinds["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    wanted = monitor["spec"]["selector"]["matchLabels"]
    scraped = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
    assert {s["metadata"]["name"] for s in scraped} == {f"br-{n.replace('_', '-')}-api" for n in SERVICES} | {"br-gateway"}
    for service in scraped:
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == "metrics"
    assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"release", "process"}
    pod_monitor = kinds["PodMonitor"]
    wanted = pod_monitor["spec"]["selector"]["matchLabels"]
    workers = [d for d in by_kind(manifests, "Deployment")
               if wanted.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert len(workers) == len(SERVICES)
    for worker in workers:
        ports = {p["name"] for c in worker["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert "metrics" in ports
    rule = kinds["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    for group in rule["spec"]["groups"]:
        assert group["name"].startswith("concilia-br-")
        for item in group["rules"]:
            assert ("alert" in item) != ("record" in item) and item["expr"]
            if "alert" in item:
                assert item["labels"]["severity"] in ("critical", "warning")
                assert item["annotations"]["runbook_url"].startswith("docs/operations.md#runbook-")


def test_schema_is_strict_on_our_keys_and_open_for_kubernetes_objects(helm):
    typo = run([helm, "lint", "--strict", CHART, "--set", "components.identity.api.replicaz=3"])
    assert typo.returncode != 0 and "replicaz" in typo.stdout + typo.stderr
    missing_secret = run([helm, "lint", "--strict", CHART, "--set", "grpcTls.enabled=true"])
    assert missing_secret.returncode != 0
    no_retention = run([helm, "lint", "--strict", CHART, "--set", "processedEvents.retentionDays=0"])
    assert no_retention.returncode != 0 and "retentionDays" in no_retention.stdout + no_retention.stderr
    kubernetes_object = run([helm, "lint", "--strict", CHART, "--set",
                             "processDefaults.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                             ".nodeSelectorTerms[0].matchExpressions[0].key=zone"])
    assert kubernetes_object.returncode == 0, kubernetes_object.stdout


# --- security ---------------------------------------------------------------------------------

def test_checkov_has_zero_failed_checks(checkov, helm, render, tmp_path):
    """The chart with its defaults (checkov's helm framework) and the br and full profiles
    rendered (kubernetes framework). Skips live next to the resources, each with a reason."""
    for profile in ("br", "full"):
        manifests = render(profile, CHART / "ci" / f"{profile}-values.yaml")
        (tmp_path / f"{profile}.yaml").write_text(yaml.safe_dump_all(manifests))
    for argv in ([checkov, "-d", CHART, "--framework", "helm"],
                 [checkov, "-d", tmp_path, "--framework", "kubernetes"]):
        result = run([*argv, "--skip-download", "--quiet", "--compact", "-o", "json"])
        reports = json.loads(result.stdout or "[]")
        reports = reports if isinstance(reports, list) else [reports]
        assert reports and all(r["summary"]["resource_count"] > 0 for r in reports), \
            f"checkov scanned nothing (is helm on PATH?):\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        failed = [(f["check_id"], f["resource"]) for r in reports for f in r["results"].get("failed_checks", [])]
        assert not failed, failed
        for report in reports:
            for skipped in report["results"].get("skipped_checks", []):
                assert len(skipped.get("suppress_comment", "")) > 20, f"skip without a reason: {skipped['check_id']}"


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_every_container_is_hardened_and_bounded(render, profile):
    manifests = render("concilia", profile)
    checked = 0
    for doc, spec in pod_specs(manifests):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        pod_context = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, name
        for container in containers_of(spec):
            checked += 1
            where = f"{name}/{container['name']}"
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), f"{where}: {part}"
            context = container.get("securityContext", {})
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: read-only root needs a writable /tmp"
    assert checked >= 11


# --- releases, names, selectors ----------------------------------------------------------------

def test_two_releases_share_a_namespace(render):
    br = render("br", CHART / "values-br.yaml")
    ar = render("ar", CHART / "values-ar.yaml")
    names = [(d["kind"], d["metadata"]["name"]) for d in br + ar]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, duplicates
    selectors = {}
    for release, manifests in (("br", br), ("ar", ar)):
        for doc in manifests:
            spec = doc.get("spec", {})
            if doc["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
                selector = spec["selector"]
                assert set(selector) == {"matchLabels"}, doc["metadata"]["name"]
                labels = selector["matchLabels"]
            elif doc["kind"] == "Service":
                labels = spec["selector"]
            else:
                continue
            assert set(labels) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}, doc["metadata"]["name"]
            assert labels["app.kubernetes.io/instance"] == release
            selectors.setdefault(tuple(sorted(labels.items())), set()).add(release)
    assert all(len(owners) == 1 for owners in selectors.values())


def test_selectors_do_not_depend_on_versions(render):
    """An upgrade (new chart or app version) must render the same selectors."""
    old = render("br", CHART / "values-br.yaml")
    new = render("br", CHART / "values-br.yaml", sets=("image.tag=9.9.9",))
    def selectors(manifests):
        return {(d["kind"], d["metadata"]["name"]): json.dumps(d["spec"].get("selector"), sort_keys=True)
                for d in manifests if d["kind"] in ("Deployment", "StatefulSet", "Service", "PodDisruptionBudget")}
    assert selectors(old) == selectors(new)


# --- processes, environment, ports -------------------------------------------------------------

def documented_commands() -> set[str]:
    """Commands of the process table in docs/developing.md, expanded per service."""
    text = (REPO / "docs" / "developing.md").read_text()
    commands = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[2].startswith("`") and cells[2].endswith("`"):
            command = cells[2].strip("`")
            if "<svc>" in command:
                commands |= {command.replace("<svc>", s) for s in SERVICES}
            else:
                commands.add(command)
    return commands


def rendered_commands(manifests) -> dict[str, str]:
    found = {}
    for doc, spec in pod_specs(manifests):
        if doc["kind"] == "Pod" or doc["metadata"]["labels"].get("app.kubernetes.io/part-of") != "concilia":
            continue
        for container in spec["containers"]:
            if container["image"].startswith(("docker.io/library/", "docker.io/otel/")):
                continue
            argv = container["command"] + container.get("args", [])
            shown = " ".join(f'"{a}"' if "(" in a else a for a in argv)
            found[shown] = f"{doc['kind']}/{doc['metadata']['name']}"
    return found


def test_commands_are_the_documented_ones(render):
    documented = documented_commands()
    assert len(documented) >= 5 * 3 + 1, documented
    manifests = render("br", CHART / "values-br.yaml")
    assert set(rendered_commands(manifests)) == documented


ENV_READ = re.compile(r"""(?:env\(|environ\[|environ\.get\(|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""")


def names_read_by_the_code() -> set[str]:
    """Environment variable names that lib/ and services/ read (env("X"), environ["X"], environ.get("X"))."""
    names = set()
    for folder in ("lib/concilia", "services"):
        for path in (REPO / folder).rglob("*.py"):
            names |= set(ENV_READ.findall(path.read_text(errors="replace")))
    return names


# Set by the chart for the operating system, not read by our code.
OS_VARIABLES = {"TZ", "LANGUAGE"}


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_every_env_var_the_chart_sets_is_read_by_the_code(render, profile):
    known = names_read_by_the_code() | OS_VARIABLES
    manifests = render("concilia", profile)
    for doc, spec in pod_specs(manifests):
        for container in spec["containers"]:
            if container["image"].startswith(("docker.io/library/", "docker.io/otel/")):
                continue
            # an inline program (the helm test pod's `python -c`) counts as code too
            inline = set(ENV_READ.findall(" ".join(container.get("command", []) + container.get("args", []))))
            unknown = {e["name"] for e in container.get("env", [])} - known - inline
            assert not unknown, f"{doc['metadata']['name']}: {sorted(unknown)} are read by no code"


def env_of(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_processes_get_the_documented_environment(render):
    manifests = render("br", CHART / "values-br.yaml")
    deployments = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
                   for d in by_kind(manifests, "Deployment")}
    common = {"CONCILIA_COUNTRY", "LOG_LEVEL", "LOG_FORMAT", "METRICS_PORT"}
    for service in SERVICES:
        kebab = service.replace("_", "-")
        api = env_of(deployments[f"br-{kebab}-api"])
        assert common | {"GRPC_PORT", "DATABASE_URL", "TOKEN_ISSUER"} <= set(api), service
        # every api fetches token keys from identity; identity verifies its own tokens locally
        assert ("IDENTITY_ADDR" in api) == (service != "identity"), service
        assert api["CONCILIA_COUNTRY"] == "BR" and api["GRPC_PORT"] == "50051"
        assert api["DATABASE_URL"]["secretKeyRef"]["key"] == f"{kebab}-database-url"
        worker = env_of(deployments[f"br-{kebab}-worker"])
        assert common | {"DATABASE_URL", "AMQP_URI", "OUTBOX_RELAY_INTERVAL_SECONDS", "WORKER_MAX_WORKERS",
                         "PROCESSED_EVENTS_RETENTION_DAYS"} <= set(worker)
        assert worker["PROCESSED_EVENTS_RETENTION_DAYS"] == "30"
        assert not {k for k in worker if k.endswith("_ADDR") or k.startswith("GRPC_")}, "workers never use gRPC"
    identity = env_of(deployments["br-identity-api"])
    assert {"TOKEN_SIGNING_KEY_FILE", "ACCESS_TOKEN_TTL_SECONDS", "REFRESH_TOKEN_TTL_SECONDS",
            "BOOTSTRAP_ADMIN_EMAIL", "BOOTSTRAP_ADMIN_PASSWORD"} <= set(identity)
    assert env_of(deployments["br-complaint-api"])["COMPANY_REGISTRY_ADDR"] == "br-company-registry-api:50051"
    gateway = env_of(deployments["br-gateway"])
    assert gateway["PORT"] == "8080" and "GATEWAY_SECRET_KEY" in gateway
    for service in SERVICES:
        assert gateway[f"{service.upper()}_ADDR"] == f"br-{service.replace('_', '-')}-api:50051"


def test_the_complaint_api_and_worker_share_the_attachments_claim(render):
    """The api writes attachment bytes; the worker removes those of erased accounts (ADR 0018): both
    must see the same folder, and no other process needs it."""
    manifests = render("br", CHART / "values-br.yaml", sets=("complaint.attachments.existingClaim=attachments-rwx",))
    mounting = {}
    for doc, spec in pod_specs(manifests):
        claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
            if "attachments" in mounts:
                assert claims["attachments"] == "attachments-rwx"
                mounting[doc["metadata"]["name"]] = (mounts["attachments"], env_of(container).get("ATTACHMENTS_DIR"))
    assert set(mounting) == {"br-complaint-api", "br-complaint-worker"}
    assert len(set(mounting.values())) == 1 and None not in next(iter(mounting.values()))


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_addresses_ports_and_probes_agree(render, profile):
    manifests = render("concilia", profile)
    services = {s["metadata"]["name"]: s for s in by_kind(manifests, "Service")}
    for doc in by_kind(manifests, "Deployment"):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            env = env_of(container)
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for name, value in env.items():
                if name.endswith("_ADDR"):
                    host, port = value.rsplit(":", 1)
                    assert host in services, f"{doc['metadata']['name']}: {name}={value} names no Service"
                    assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
            if "GRPC_PORT" in env:
                assert ports["grpc"] == int(env["GRPC_PORT"])
            if "METRICS_PORT" in env and "metrics" in ports:
                assert ports["metrics"] == int(env["METRICS_PORT"])
            if "PORT" in env:
                assert ports["http"] == int(env["PORT"])
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(probe_name)
                if not probe:
                    continue
                for kind in ("grpc", "tcpSocket", "httpGet"):
                    if kind in probe:
                        port = probe[kind]["port"]
                        assert port in ports or port in ports.values(), f"{doc['metadata']['name']} {probe_name}"
    for service in services.values():
        selector = service["spec"]["selector"]
        targets = [d for d in manifests if d["kind"] in ("Deployment", "StatefulSet")
                   and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(targets) == 1, service["metadata"]["name"]
        container_ports = {p["name"] for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports, service["metadata"]["name"]


def test_api_probes_are_native_grpc_and_gateway_liveness_is_cheap(render):
    manifests = render("br", CHART / "values-br.yaml")
    for doc in by_kind(manifests, "Deployment"):
        container = doc["spec"]["template"]["spec"]["containers"][0]
        kind = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        if kind == "api":
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["grpc"] == {"port": 50051}
        elif kind == "gateway":
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        elif kind == "worker":
            assert container["livenessProbe"]["tcpSocket"]["port"] == "metrics"


def test_migrations_run_before_install_and_upgrade(render):
    jobs = by_kind(render("br", CHART / "values-br.yaml"), "Job")
    assert len(jobs) == len(SERVICES)
    for job in jobs:
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][:3] == ["python", "-m", "concilia.chassis.migrate"]
        assert "DATABASE_URL" in env_of(container)


def test_grpc_tls_wires_servers_and_clients(render):
    manifests = render("full", CHART / "ci" / "full-values.yaml")
    for doc in by_kind(manifests, "Deployment"):
        container = doc["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        kind = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        if kind == "api":
            assert env["GRPC_TLS_CERT_FILE"] == "/etc/concilia/grpc-tls/tls.crt"
            assert env["GRPC_TLS_KEY_FILE"] == "/etc/concilia/grpc-tls/tls.key"
            # The kubelet's gRPC probe cannot do TLS: the same check runs as an exec.
            assert "exec" in container["readinessProbe"]
        if kind in ("api", "gateway"):
            assert env["GRPC_TLS_CA_FILE"] == "/etc/concilia/grpc-tls/ca.crt"


# --- network policies --------------------------------------------------------------------------

def allowed_edges(manifests) -> set[tuple[str, str]]:
    """(from process name, to process name) pairs that both the egress and the ingress policies allow."""
    policies = {p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name"): p
                for p in by_kind(manifests, "NetworkPolicy")}
    def names_in(rules, direction):
        for rule in rules or []:
            for peer in rule.get(direction, []):
                name = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                if name and "namespaceSelector" not in peer:
                    yield name
    edges = set()
    for name, policy in policies.items():
        if not name:
            continue
        for target in names_in(policy["spec"].get("egress"), "to"):
            target_policy = policies.get(target)
            if target_policy and name in set(names_in(target_policy["spec"].get("ingress"), "from")):
                edges.add((name, target))
    return edges


def test_network_policies_allow_exactly_the_edges(render):
    manifests = render("br", CHART / "values-br.yaml")
    deny = [p for p in by_kind(manifests, "NetworkPolicy")
            if p["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": "br"}}]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]
    apis = [f"{s.replace('_', '-')}-api" for s in SERVICES]
    expected = {("gateway", api) for api in apis} | {("helm-test", api) for api in apis} | {("helm-test", "gateway")}
    expected |= {(api, "identity-api") for api in apis if api != "identity-api"}
    expected |= {("complaint-api", "company-registry-api"), ("identity-api", "company-registry-api")}
    assert allowed_edges(manifests) == expected
    for policy in by_kind(manifests, "NetworkPolicy"):
        name = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name", "")
        egress_ports = {p["port"] for rule in policy["spec"].get("egress", []) for p in rule.get("ports", [])}
        if name.endswith("-worker"):
            assert {5432, 5672} <= egress_ports and 50051 not in egress_ports, name
        if name.endswith("-api"):
            assert 5432 in egress_ports and 5672 not in egress_ports, name
        if name == "gateway":
            assert 5432 not in egress_ports and 5672 not in egress_ports


# --- country examples ---------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["br", "ar"])
def test_country_values_agree_with_the_country_pack(code):
    values = yaml.safe_load((CHART / f"values-{code}.yaml").read_text())
    pack = yaml.safe_load((REPO / "countries" / code / "pack.yaml").read_text())
    assert values["country"] == {"code": pack["code"], "language": pack["default_locale"], "timeZone": pack["time_zone"]}
    assert (CHART / "ci" / f"{code}-values.yaml").read_text() == (CHART / f"values-{code}.yaml").read_text(), \
        f"ci/{code}-values.yaml must stay a copy of values-{code}.yaml"


# --- observability ------------------------------------------------------------------------------

def extract_rules(render, tmp_path) -> Path:
    manifests = render("br", CHART / "values-br.yaml")
    rule = next(d for d in manifests if d["kind"] == "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def test_prometheus_rules_pass_promtool_unit_tests(promtool, render, tmp_path):
    rules = extract_rules(render, tmp_path)
    check = run([promtool, "check", "rules", rules])
    assert check.returncode == 0, check.stdout + check.stderr
    tests = []
    for source in RULE_TESTS:
        tests.append(tmp_path / source.name)
        shutil.copy(source, tests[-1])
    result = run([promtool, "test", "rules", *tests])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_a_runbook(render, tmp_path):
    rules = yaml.safe_load(extract_rules(render, tmp_path).read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = "".join(path.read_text() for path in RULE_TESTS)
    operations = (REPO / "docs" / "operations.md").read_text()
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"
        assert f'<a id="runbook-{alert.lower()}"></a>' in operations, f"{alert} has no runbook"


def metric_names_in_code() -> set[str]:
    """Names of the metrics the code defines (prometheus_client metrics and custom-collector families)."""
    pattern = re.compile(r"""\b(Counter|Gauge|Histogram|Summary)(MetricFamily)?\(\s*["']([a-z_:][a-z0-9_:]*)["']""")
    names = set()
    for folder in ("lib/concilia", "services"):
        for path in (REPO / folder).rglob("*.py"):
            for kind, family, name in pattern.findall(path.read_text(errors="replace")):
                # a counter is exposed with the _total suffix whichever way it is defined
                names.add(name + "_total" if kind == "Counter" and not name.endswith("_total") else name)
    return names


def registered_metrics() -> set[str]:
    text = (REPO / "docs" / "metrics-register.md").read_text()
    return set(re.findall(r"^\| `([a-z_:][a-z0-9_:]*)` \|", text, re.M))


def metric_names_in_promql(text: str) -> set[str]:
    names = set(re.findall(r"\b((?:concilia|grpc|http|rabbitmq)_[a-z0-9_]+|up)\b(?=\s*[{\[]|\s*(?:==|offset|>))", text))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_metrics_register_covers_code_rules_and_dashboards(render, tmp_path):
    register = registered_metrics()
    missing_from_register = metric_names_in_code() - register
    assert not missing_from_register, f"metrics defined in code but not in docs/metrics-register.md: {missing_from_register}"
    rules = extract_rules(render, tmp_path).read_text()
    used = metric_names_in_promql(rules)
    for dashboard in (CHART / "dashboards").glob("*.json"):
        panels = json.loads(dashboard.read_text())["panels"]
        used |= metric_names_in_promql(" ".join(t["expr"] for p in panels for t in p.get("targets", [])))
    assert {"concilia_complaints_past_deadline", "concilia_solution_index", "grpc_server_handled_total"} <= used
    assert not used - register - {"up"}, f"used in rules/dashboards but not registered: {used - register}"


def test_dashboards_are_configmaps_for_the_grafana_sidecar(render):
    for release, values in (("br", "values-br.yaml"), ("ar", "values-ar.yaml")):
        maps = [d for d in by_kind(render(release, CHART / values), "ConfigMap") if "dashboard" in d["metadata"]["name"]]
        assert len(maps) == 2
        uids = set()
        for config_map in maps:
            assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
            (content,) = config_map["data"].values()
            dashboard = json.loads(content)
            assert dashboard["uid"].startswith(f"{release}-concilia-") and len(dashboard["uid"]) <= 40
            uids.add(dashboard["uid"])
            assert {"namespace", "release"} <= {v["name"] for v in dashboard["templating"]["list"]}
            for panel in dashboard["panels"]:
                for target in panel.get("targets", []):
                    assert 'release="$release"' in target["expr"] or "rabbitmq_" in target["expr"], panel["title"]
        assert len(uids) == 2


# --- image --------------------------------------------------------------------------------------

def test_dockerfile_is_pinned_non_root_and_runs_the_charts_commands(render):
    dockerfile = (REPO / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert dockerfile.count("FROM ${PYTHON_IMAGE}") == 2, "multi-stage on the pinned base"
    assert "scripts/install-image-deps.sh" in dockerfile
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 10001
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    gateway = next(d for d in by_kind(render("br", CHART / "values-br.yaml"), "Deployment")
                   if d["metadata"]["name"] == "br-gateway")
    assert cmd == gateway["spec"]["template"]["spec"]["containers"][0]["command"]
    ignored = (REPO / ".dockerignore").read_text()
    for needed in ("!requirements.txt", "!scripts/install-image-deps.sh", "!lib/", "!services/", "!countries/"):
        assert needed in ignored


def test_image_dependencies_load_every_process():
    """CI runs the image's install script (no Docker engine here) and imports every module the chart
    starts with exactly that environment and the image's PYTHONPATH."""
    venv = TOOLS / "image-venv"
    requirements = (REPO / "requirements.txt").read_bytes() + (REPO / "scripts" / "install-image-deps.sh").read_bytes()
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        shutil.rmtree(venv, ignore_errors=True)
        result = subprocess.run(["bash", str(REPO / "scripts" / "install-image-deps.sh"), str(venv)],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        stamp.write_text(digest)
    # Two processes, as in production: worker modules under eventlet, the others without it.
    plain = ["concilia.chassis.migrate", "services.gateway.app", *[f"services.{s}.api" for s in SERVICES]]
    patched = ["concilia.chassis.run_worker", *[f"services.{s}.worker" for s in SERVICES]]
    missing = [m for m in plain + patched if not (REPO / (m.replace(".", "/") + ".py")).exists()
               and not (REPO / "lib" / (m.replace(".", "/") + ".py")).exists()]
    assert not missing, f"the chart starts modules that do not exist: {missing}"
    program = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint('ok')"
    for modules in (plain, patched):
        result = subprocess.run([str(venv / "bin" / "python"), "-c", program, *modules], capture_output=True,
                                text=True, cwd="/", timeout=120,
                                env={"PYTHONPATH": f"{REPO / 'lib'}:{REPO}", "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr[-3000:]
