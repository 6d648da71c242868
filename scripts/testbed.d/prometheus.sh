# Prometheus for the test bed (sourced by scripts/testbed.sh after the core; see README.md here):
# the real server, built from the github.com/prometheus/prometheus Go module, which the telemetry
# source `prometheus` (legato/adapters/telemetry/prometheus.py) is tested against, scraping the
# test bed's exporter (tests/real/workload_exporter). Module v0.316.0 is Prometheus 3.16.0.
# Built without the web UI's assets (the `builtinassets` tag would embed a UI built by npm, which the
# module does not carry: the HTTP API is what Legato reads), and with `remove_all_sd`: every
# service-discovery plugin left out (the tests scrape static targets), which also leaves out the
# cloud SDKs that would triple the build.
PROMETHEUS_VERSION="${LEGATO_PROMETHEUS_VERSION:-v0.316.0}"
PROMETHEUS_ROOT="$CACHE/prometheus-${PROMETHEUS_VERSION}"

if [[ ! -f "$PROMETHEUS_ROOT/.complete" ]]; then
  command -v go >/dev/null || { log "needs Go (https://go.dev) on PATH"; exit 1; }
  prometheus_start=$(date +%s)
  mkdir -p "$PROMETHEUS_ROOT/src" "$PROMETHEUS_ROOT/bin"
  cd "$PROMETHEUS_ROOT/src"
  printf 'module legato.local/prometheus\ngo 1.25.0\nrequire github.com/prometheus/prometheus %s\n' \
    "$PROMETHEUS_VERSION" >go.mod
  log "building prometheus $PROMETHEUS_VERSION"
  ldflags="-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
  GOFLAGS=-mod=mod nice -n 19 go build -p "$JOBS" -trimpath -tags remove_all_sd -ldflags "$ldflags" \
    -o "$PROMETHEUS_ROOT/bin/prometheus" github.com/prometheus/prometheus/cmd/prometheus
  touch "$PROMETHEUS_ROOT/.complete"
  log "prometheus $PROMETHEUS_VERSION built in $(( $(date +%s) - prometheus_start )) s"
fi
ln -sfn "$PROMETHEUS_ROOT/bin/prometheus" "$BIN/prometheus"
