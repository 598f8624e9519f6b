#!/usr/bin/env bash
# Checks deploy/prometheus with promtool: the scrape config, the alert rules,
# and the rules' unit tests (alerts_test.yml). promtool comes from Debian's
# prometheus package, which ./scripts/test unpacks into build/tools (it is
# not installed: that would also install and start a Prometheus server).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
promtool="$(command -v promtool || true)"
[ -n "$promtool" ] || promtool="$root/build/tools/prometheus/usr/bin/promtool"
if [ ! -x "$promtool" ]; then
  echo "promtool not found: run ./scripts/test, which fetches Debian's prometheus package" >&2
  exit 1
fi
cd "$root/deploy/prometheus"
"$promtool" check config prometheus.yml
"$promtool" check rules alerts.yml
"$promtool" test rules alerts_test.yml
