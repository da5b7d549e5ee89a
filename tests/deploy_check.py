#!/usr/bin/env python3
"""deploy_check.py -- structural checks of the two-tier deployment files.

  python3 tests/deploy_check.py compose docker-compose.yaml
  python3 tests/deploy_check.py kubernetes RENDERED.yaml   (kubectl kustomize)

Prints one PASS: or FAIL: line per check and exits 1 if any fails, 2 on
a file it cannot read or parse.  Used by tests/compose-config.sh and
tests/kubernetes.sh; needs PyYAML (Debian: python3-yaml).
"""
import re
import sys

import yaml

FAILS = []


def check(ok, what):
    """Print WHAT as a PASS: or FAIL: line; remember the failures."""
    print(("PASS: " if ok else "FAIL: ") + what)
    if not ok:
        FAILS.append(what)
    return ok


def dig(node, *keys):
    """node[k1][k2]... or None when a level is missing or not a mapping."""
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    return node


def parse_url(url):
    """(host, port or None) of a http:// URL, or None."""
    m = re.fullmatch(r"http://([A-Za-z0-9.-]+)(?::([0-9]+))?/?", str(url))
    return (m.group(1), m.group(2)) if m else None


# --- docker-compose.yaml ---

SERVICE_KEYS = {"build", "image", "healthcheck", "restart", "read_only", "cap_drop",
                "security_opt", "deploy", "environment", "ports", "depends_on"}


def compose_service(name, svc):
    """The hardening, health check, limits and image of one service."""
    extra = set(svc) - SERVICE_KEYS
    check(not extra, f"{name}: no unknown service key {sorted(extra) or ''}")
    check(isinstance(dig(svc, "build"), dict) and
          dig(svc, "build", "dockerfile") == "Dockerfile",
          f"{name}: built from the Dockerfile")
    check(bool(svc.get("image")), f"{name}: names its image ({svc.get('image')})")
    test = dig(svc, "healthcheck", "test")
    check(isinstance(test, list) and test[:1] == ["CMD"] and
          "--healthcheck" in test and "curl" not in " ".join(test),
          f"{name}: healthcheck runs avatar-api --healthcheck ({test})")
    for k in ("interval", "timeout", "retries"):
        check(dig(svc, "healthcheck", k) is not None, f"{name}: healthcheck {k}")
    check(svc.get("read_only") is True, f"{name}: read_only: true")
    check(svc.get("cap_drop") == ["ALL"], f"{name}: cap_drop: [ALL]")
    check(any(str(o).replace("=", ":") in ("no-new-privileges", "no-new-privileges:true")
              for o in svc.get("security_opt") or []),
          f"{name}: security_opt no-new-privileges")
    check(svc.get("restart") in ("always", "unless-stopped", "on-failure"),
          f"{name}: restart policy ({svc.get('restart')})")
    cpus = dig(svc, "deploy", "resources", "limits", "cpus")
    memory = dig(svc, "deploy", "resources", "limits", "memory")
    check(re.fullmatch(r"[0-9]+(\.[0-9]+)?", str(cpus)) is not None and
          re.fullmatch(r"[0-9]+[kmg]?b?", str(memory), re.I) is not None,
          f"{name}: CPU and memory limits ({cpus}, {memory})")


def published(svc, target):
    """Whether SVC publishes container port TARGET."""
    for p in svc.get("ports") or []:
        if isinstance(p, dict) and str(p.get("target")) == str(target):
            return True
        if isinstance(p, str) and p.split("/")[0].rsplit(":", 1)[-1] == str(target):
            return True
    return False


def check_compose(doc):
    """docker-compose.yaml: m1 relays to m2, as in the reference."""
    svcs = dig(doc, "services") or {}
    if not check(set(svcs) == {"m1", "m2"}, f"services are m1 and m2 ({sorted(svcs)})"):
        return
    for name in ("m1", "m2"):
        compose_service(name, svcs[name])
    m1env = svcs["m1"].get("environment") or {}
    m2env = svcs["m2"].get("environment") or {}
    check(isinstance(m1env, dict) and isinstance(m2env, dict),
          "environment as mappings")
    check(m2env.get("M1_PORT") == "3000" and m2env.get("M1_PATH") == "/v1/avatar" and
          not any(k.startswith("M2_") for k in m2env),
          f"m2 serves its fixture on :3000/v1/avatar ({m2env})")
    check(published(svcs["m2"], m2env.get("M1_PORT")), "m2 publishes its port 3000")
    check(m1env.get("M2_DOMAIN") == "http://m2" and m1env.get("M2_PORT") == "3000" and
          m1env.get("M2_PATH") == "/v1/avatar",
          f"m1 relays to http://m2:3000/v1/avatar ({m1env})")
    check(m1env.get("M2_PORT") == m2env.get("M1_PORT") and
          m1env.get("M2_PATH") == m2env.get("M1_PATH"),
          "m1's M2_PORT and M2_PATH are m2's M1_PORT and M1_PATH")
    check(m1env.get("M1_PORT") in (None, "8080") and published(svcs["m1"], 8080),
          "m1 listens on and publishes 8080")
    check(dig(svcs["m1"], "depends_on", "m2", "condition") == "service_healthy",
          "m1 depends_on m2 with condition service_healthy")
    check(svcs["m1"].get("image") == svcs["m2"].get("image"),
          "m1 and m2 run the same image")


# --- Kubernetes (the output of kubectl kustomize) ---

POD_KEYS = {"containers", "securityContext", "enableServiceLinks",
            "automountServiceAccountToken", "terminationGracePeriodSeconds",
            "affinity", "topologySpreadConstraints", "nodeSelector",
            "tolerations", "serviceAccountName", "priorityClassName",
            "initContainers", "volumes", "imagePullSecrets"}
CONTAINER_KEYS = {"name", "image", "imagePullPolicy", "args", "command", "env",
                  "ports", "startupProbe", "readinessProbe", "livenessProbe",
                  "resources", "securityContext", "volumeMounts", "lifecycle"}
PROBE_KEYS = {"httpGet", "initialDelaySeconds", "periodSeconds", "timeoutSeconds",
              "failureThreshold", "successThreshold"}
# What each probe asks: alive (/healthz), or ready for traffic (/readyz:
# 503 once SIGTERM is received, or while m1's upstream is unreachable).
PROBE_PATHS = {"startupProbe": "/healthz", "readinessProbe": "/readyz",
               "livenessProbe": "/healthz"}
# How long avatar-api drains the requests in progress after SIGTERM (and
# after --shutdown-delay): SERVER_DRAIN_MS in src/server.h.
DRAIN_SECONDS = 5


def quantity(q, unit):
    """A CPU (cores) or memory (bytes) quantity as a number, or None."""
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|k|M|G)?", str(q))
    if not m:
        return None
    scale = {None: 1, "m": 0.001, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3,
             "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
    if (unit == "cpu") != (m.group(2) in (None, "m")):
        return None
    return float(m.group(1)) * scale


def check_container(dname, pod, c):
    """Probes, resources and security context of one container."""
    cname = f"{dname}/{c.get('name')}"
    extra = set(c) - CONTAINER_KEYS
    check(not extra, f"{cname}: no unknown container field {sorted(extra) or ''}")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    check(ports.get("http") is not None, f"{cname}: a port named http ({ports})")
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.get(kind)
        if not check(isinstance(probe, dict), f"{cname}: has a {kind}"):
            continue
        extra = set(probe) - PROBE_KEYS
        check(not extra, f"{cname}: {kind} has no unknown field {sorted(extra) or ''}")
        port = dig(probe, "httpGet", "port")
        want = PROBE_PATHS[kind]
        check(dig(probe, "httpGet", "path") == want and
              (port in ports or port in ports.values()),
              f"{cname}: {kind} GETs {want} on a container port "
              f"({dig(probe, 'httpGet', 'path')}, {port})")
    check_stop(cname, pod, c)
    res = c.get("resources") or {}
    for unit in ("cpu", "memory"):
        req = quantity(dig(res, "requests", unit), unit)
        lim = quantity(dig(res, "limits", unit), unit)
        check(req is not None and lim is not None and 0 < req <= lim,
              f"{cname}: {unit} request {dig(res, 'requests', unit)} <= "
              f"limit {dig(res, 'limits', unit)}")
    sc = c.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    eff = dict(psc, **sc)  # the container's settings win over the pod's
    check(eff.get("runAsNonRoot") is True, f"{cname}: runAsNonRoot: true")
    check(eff.get("runAsUser") == 65532, f"{cname}: runAsUser: 65532 ({eff.get('runAsUser')})")
    check(sc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem: true")
    check(sc.get("allowPrivilegeEscalation") is False,
          f"{cname}: allowPrivilegeEscalation: false")
    check(dig(sc, "capabilities", "drop") == ["ALL"] and not dig(sc, "capabilities", "add"),
          f"{cname}: capabilities drop [ALL], add none")
    check(dig(eff, "seccompProfile", "type") == "RuntimeDefault",
          f"{cname}: seccompProfile RuntimeDefault")
    check(not sc.get("privileged"), f"{cname}: not privileged")
    return ports


def check_stop(cname, pod, c):
    """SIGTERM: a shutdown delay for the endpoints to drop the pod, and a
    grace period longer than the delay, any preStop sleep and the drain."""
    delay = (env_of(c).get("AVATAR_API_SHUTDOWN_DELAY") or "0").strip()
    delay = int(delay) if delay.isdigit() else -1
    check(delay >= 1, f"{cname}: AVATAR_API_SHUTDOWN_DELAY >= 1 s "
          f"(/readyz 503 before the stop; {delay})")
    sleep = dig(c, "lifecycle", "preStop", "sleep", "seconds") or 0
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(isinstance(grace, int) and isinstance(sleep, int) and
          grace > sleep + max(delay, 0) + DRAIN_SECONDS,
          f"{cname}: terminationGracePeriodSeconds {grace} > preStop sleep "
          f"{sleep} + shutdown delay {delay} + drain {DRAIN_SECONDS}")


def env_of(c):
    """A container's env as a dict of plain values."""
    return {e.get("name"): e.get("value") for e in c.get("env") or []}


def check_deployment(d):
    """One Deployment: replicas, labels, pod spec, each container."""
    name = dig(d, "metadata", "name")
    spec = d.get("spec") or {}
    pod = dig(spec, "template", "spec") or {}
    sel = dig(spec, "selector", "matchLabels") or {}
    labels = dig(spec, "template", "metadata", "labels") or {}
    check(isinstance(spec.get("replicas"), int) and spec["replicas"] >= 2,
          f"{name}: replicas >= 2 ({spec.get('replicas')})")
    check(bool(sel) and all(labels.get(k) == v for k, v in sel.items()),
          f"{name}: the selector {sel} matches the pod labels")
    extra = set(pod) - POD_KEYS
    check(not extra, f"{name}: no unknown pod field {sorted(extra) or ''}")
    check(pod.get("enableServiceLinks") is False,
          f"{name}: enableServiceLinks: false (no M2_PORT=tcp://... from a Service)")
    check(pod.get("automountServiceAccountToken") is False,
          f"{name}: automountServiceAccountToken: false")
    containers = pod.get("containers") or []
    check(len(containers) == 1, f"{name}: one container")
    ports = {}
    for c in containers:
        ports = check_container(name, pod, c)
    return labels, ports, (env_of(containers[0]) if containers else {})


def check_kubernetes(docs):
    """The rendered manifests: two tiers, their Services and m1's HPA."""
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), {})[dig(d, "metadata", "name")] = d
        check("namespace" not in (d.get("metadata") or {}),
              f"{d.get('kind')} {dig(d, 'metadata', 'name')}: no namespace")
    deps = by_kind.get("Deployment", {})
    svcs = by_kind.get("Service", {})
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    check(set(by_kind) == {"Deployment", "Service", "HorizontalPodAutoscaler"},
          f"kinds: Deployment, Service, HorizontalPodAutoscaler ({sorted(map(str, by_kind))})")
    names = {"avatar-api-m1", "avatar-api-m2"}
    if not (check(set(deps) == names, f"Deployments {sorted(names)} ({sorted(deps)})") &
            check(set(svcs) == names, f"Services {sorted(names)} ({sorted(svcs)})")):
        return
    for d in list(deps.values()) + list(svcs.values()):
        check(d.get("apiVersion") == ("apps/v1" if d["kind"] == "Deployment" else "v1"),
              f"{d['kind']} {d['metadata']['name']}: apiVersion {d.get('apiVersion')}")
    tier = {n: check_deployment(deps[n]) for n in sorted(names)}
    for n, svc in sorted(svcs.items()):
        labels, ports, _ = tier[n]
        sel = dig(svc, "spec", "selector") or {}
        check(bool(sel) and all(labels.get(k) == v for k, v in sel.items()) and
              all(tier[o][0].get(k) != v for o in names - {n} for k, v in sel.items()
                  if k == "app.kubernetes.io/component"),
              f"Service {n}: selects {n}'s pods only ({sel})")
        sp = (dig(svc, "spec", "ports") or [{}])[0]
        check(sp.get("targetPort") in ports or sp.get("targetPort") in ports.values(),
              f"Service {n}: targetPort {sp.get('targetPort')} is a container port")
    m1env, m2env = tier["avatar-api-m1"][2], tier["avatar-api-m2"][2]
    m2port = dig(svcs["avatar-api-m2"], "spec", "ports")[0].get("port")
    check(m2env.get("M1_PORT") == str(tier["avatar-api-m2"][1].get("http")) and
          m2env.get("M1_PATH") == "/v1/avatar" and
          not any(k.startswith("M2_") for k in m2env),
          f"m2 serves its fixture on M1_PORT {m2env.get('M1_PORT')}, /v1/avatar")
    check(parse_url(m1env.get("M2_DOMAIN")) == ("avatar-api-m2", None) and
          m1env.get("M2_PORT") == str(m2port) and
          m1env.get("M2_PATH") == m2env.get("M1_PATH"),
          f"m1 relays to the m2 Service: {m1env.get('M2_DOMAIN')}:"
          f"{m1env.get('M2_PORT')}{m1env.get('M2_PATH')}")
    check(m1env.get("M1_PORT") in (None, str(tier["avatar-api-m1"][1].get("http"))),
          "m1 listens on its container port")
    imgs = {dig(deps[n], "spec", "template", "spec", "containers")[0].get("image")
            for n in names}
    check(len(imgs) == 1, f"both tiers run one image ({sorted(map(str, imgs))})")
    hpa = hpas.get("avatar-api-m1")
    if not check(hpa is not None and len(hpas) == 1, "one HorizontalPodAutoscaler, for m1"):
        return
    spec = hpa.get("spec") or {}
    check(hpa.get("apiVersion") == "autoscaling/v2",
          f"HPA apiVersion autoscaling/v2 ({hpa.get('apiVersion')})")
    check(spec.get("scaleTargetRef") == {"apiVersion": "apps/v1", "kind": "Deployment",
                                         "name": "avatar-api-m1"},
          "HPA targets Deployment avatar-api-m1")
    lo, hi = spec.get("minReplicas"), spec.get("maxReplicas")
    check(isinstance(lo, int) and isinstance(hi, int) and 1 <= lo < hi,
          f"HPA minReplicas {lo} < maxReplicas {hi}")
    check(any(dig(m, "resource", "name") == "cpu" and
              dig(m, "resource", "target", "type") == "Utilization"
              for m in spec.get("metrics") or []),
          "HPA scales on CPU utilization")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("compose", "kubernetes"):
        print("usage: deploy_check.py compose|kubernetes FILE", file=sys.stderr)
        return 64
    try:
        with open(argv[2], encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        print(f"deploy_check.py: {argv[2]}: {e}", file=sys.stderr)
        return 2
    if argv[1] == "compose":
        if check(len(docs) == 1 and isinstance(docs[0], dict), "one YAML document"):
            check_compose(docs[0])
    elif check(bool(docs) and all(isinstance(d, dict) for d in docs),
               f"{len(docs)} YAML documents, each a mapping"):
        check_kubernetes(docs)
    print(f"deploy_check.py {argv[1]}: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
