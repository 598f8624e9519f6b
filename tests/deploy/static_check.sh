#!/usr/bin/env bash
# Checks what can be checked of deploy/ without a container engine or a
# Kubernetes cluster (deploy/README.md says what is not run):
#   - every YAML file parses;
#   - the Kubernetes manifests decode into their typed objects (kubectl, offline);
#   - every troupe command line in the files is accepted by the binary;
#   - every TROUPE_* variable and the ConfigMap's troupe.toml pass `troupe config check`;
#   - the systemd units pass `systemd-analyze verify`;
#   - the Dockerfile installs a package for every library the binary links,
#     and builds with packages scripts/setup also installs.
# Usage: tests/deploy/static_check.sh TROUPE_BINARY
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$1"
py=/usr/bin/python3
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root/deploy"

echo "--- YAML parses"
"$py" - <<'EOF'
import glob, yaml
files = sorted(glob.glob("**/*.yml", recursive=True) + glob.glob("**/*.yaml", recursive=True))
for f in files:
    with open(f) as fh:
        list(yaml.safe_load_all(fh))
print(len(files), "files")
EOF

echo "--- Kubernetes manifests decode"
if command -v kubectl >/dev/null 2>&1; then
  for f in k8s/*.yaml; do
    # --local: decoded into the typed objects here, no API server asked.
    kubectl label --local -f "$f" troupe.checked=yes -o name >/dev/null
  done
  echo "kubectl: $(ls k8s/*.yaml | wc -l) manifests"
else
  echo "kubectl not installed: skipped (the YAML still parsed)"
fi

echo "--- command lines and configuration"
"$py" - "$bin" "$work" <<'EOF'
import glob, os, re, shlex, subprocess, sys, yaml
binary, work = sys.argv[1], sys.argv[2]
failures = []

def run(args, env_extra=None, what=""):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work}
    env.update(env_extra or {})
    p = subprocess.run([binary] + args, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        failures.append(f"{what}: troupe {' '.join(args)} -> {p.returncode}: {p.stderr.strip()}")

# Values the files leave to the platform, replaced by plausible ones.
def concrete(value):
    return (str(value).replace("$(POD_IP)", "10.0.0.7")
            .replace("/run/secrets/cluster_secret", work + "/secret"))

with open(work + "/secret", "w") as fh:
    fh.write("a-secret-of-at-least-16-bytes\n")

commands = []  # (what, argv after the binary)
envs = []      # (what, {name: value})

compose = yaml.safe_load(open("compose/docker-compose.yml"))
for name, svc in compose["services"].items():
    if svc.get("image", "").startswith("troupe") or "build" in svc:
        commands.append((f"compose {name}", svc["command"]))
        envs.append((f"compose {name}", svc.get("environment", {})))

for f in sorted(glob.glob("k8s/*.yaml")):
    for doc in yaml.safe_load_all(open(f)):
        if not doc:
            continue
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == "troupe-secrets":
            envs.append((f"{f} secret", doc["stringData"]))
        if doc["kind"] == "ConfigMap":
            path = work + "/troupe.toml"
            open(path, "w").write(doc["data"]["troupe.toml"])
            config_file = path
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec")
        for c in (pod or {}).get("containers", []):
            commands.append((f"{f} {c['name']}", c.get("args", [])))
            envs.append((f"{f} {c['name']}", {e["name"]: e.get("value", "x") for e in c.get("env", [])}))

for unit in sorted(glob.glob("systemd/*.service")):
    for line in open(unit):
        if line.startswith(("ExecStart=", "ExecStartPre=")):
            argv = shlex.split(line.split("=", 1)[1])
            assert argv[0] == "/usr/bin/troupe", unit
            commands.append((unit, argv[1:]))

dockerfile = open("Dockerfile").read()
cmd = re.search(r'^CMD (\[.*\])', dockerfile, re.M).group(1)
commands.append(("Dockerfile CMD", yaml.safe_load(cmd)))

# Each command line as the binary parses it: --help after it makes the
# command print its help instead of running, once every flag was accepted.
for what, argv in commands:
    argv = [concrete(a) for a in argv if not a.startswith("--config") and a != "/etc/troupe/troupe.toml"]
    run(argv + ["--help"], what=what)

# Every variable the files set, at once with the ConfigMap's file: a
# TROUPE_* name that is no key, or a value out of range, fails the check.
troupe_env = {}
for what, env in envs:
    for k, v in env.items():
        if k.startswith("TROUPE_"):
            troupe_env[k] = concrete(v)
troupe_env.pop("TROUPE_CLUSTER_SECRET", None)  # the file variant is set too
run(["config", "check", "--config", config_file], troupe_env, "configuration")
print(len(commands), "command lines,", len(troupe_env), "variables checked")
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
EOF

echo "--- systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
  for unit in systemd/*.service; do
    sed "s#/usr/bin/troupe#$bin#g" "$unit" >"$work/$(basename "$unit")"
  done
  # Only problems of the units themselves count: the service user and the
  # documentation path exist on a real host, not here.
  out="$(systemd-analyze verify "$work"/*.service 2>&1 || true)"
  problems="$(printf '%s\n' "$out" | grep -v -e '^$' -e 'Failed to resolve user' -e 'User=.*not found' || true)"
  if [ -n "$problems" ]; then
    printf '%s\n' "$problems" >&2
    exit 1
  fi
  echo "systemd-analyze: $(ls systemd/*.service | wc -l) units"
else
  echo "systemd-analyze not installed: skipped"
fi

echo "--- Dockerfile packages"
runtime="$(sed -n '/^FROM debian:bookworm-slim/,$p' Dockerfile)"
for lib in $(readelf -d "$bin" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
  case "$lib" in libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*) continue ;; esac
  pkg="$(dpkg -S "*/$lib" 2>/dev/null | cut -d: -f1 | grep -v -- '-dev$' | head -1)"
  if [ -z "$pkg" ] || ! grep -qw -- "$pkg" <<<"$runtime"; then
    echo "the runtime stage installs no package for $lib ($pkg)" >&2
    exit 1
  fi
done
build="$(sed -n '/^FROM debian:bookworm AS build/,/^FROM /p' Dockerfile | sed -n '/apt-get install/,/rm -rf/p')"
for pkg in $(grep -o '[a-z0-9][a-z0-9.+-]*' <<<"$build" | grep -v -e '^apt-get$' -e '^install$' -e '^no-install-recommends$' -e '^y$' -e '^rm$' -e '^rf$' -e '^var$' -e '^lib$' -e '^apt$' -e '^lists$'); do
  if ! grep -qw -- "$pkg" "$root/scripts/setup"; then
    echo "the build stage installs $pkg, which scripts/setup does not" >&2
    exit 1
  fi
done
echo "Dockerfile: every linked library has its package"
echo "deploy: static checks passed"
