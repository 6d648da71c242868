#!/usr/bin/env bash
# The Kubernetes test bed: kube-apiserver, kube-controller-manager, kube-scheduler (built from the
# k8s.io/kubernetes Go module), kwok and kwokctl, etcd, and helm (each from its Go module). Built once
# from the Go module proxy and cached outside the repository; later runs take well under a second.
# Prints the directory holding the binaries (export it as LEGATO_TESTBED_BIN).
# Each further part of the test bed is a script in scripts/testbed.d/, run in name order after the
# core: it builds into its own cache directory under $CACHE (so adding one rebuilds nothing else)
# and links its binaries into $BIN. It gets BIN, CACHE, JOBS, LIB (shared build steps) and log() and
# must be quick when cached.
# etcd is the release Kubernetes pins: Debian's etcd 3.4 lacks the watch progress requests that
# client-go's streaming lists need, and kwok's pods then lag by many seconds.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"  # the build steps cd; the parts and lib are found from here

KUBE_VERSION="${LEGATO_KUBE_VERSION:-v1.34.4}"
KWOK_VERSION="${LEGATO_KWOK_VERSION:-v0.8.0}"
ETCD_VERSION="${LEGATO_ETCD_VERSION:-v3.6.4}"
# helm: the release whose client-go matches the control plane's minor (v3.19 uses client-go v0.34).
HELM_VERSION="${LEGATO_HELM_VERSION:-v3.19.5}"
CACHE="${LEGATO_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/legato/testbed}"
HELM_ROOT="$CACHE/helm-${HELM_VERSION}"
ROOT="${LEGATO_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/legato/testbed}/kube-${KUBE_VERSION}-kwok-${KWOK_VERSION}-etcd-${ETCD_VERSION}"
BIN="$ROOT/bin"
JOBS="${LEGATO_TESTBED_JOBS:-2}"

log() { echo "testbed: $*" >&2; }

# helm is cached on its own (a new helm version does not rebuild the control plane, nor the other
# way round) and linked into BIN, so LEGATO_TESTBED_BIN holds every binary.
if [[ ! -x "$HELM_ROOT/bin/helm" ]]; then
  command -v go >/dev/null || { log "needs Go (https://go.dev) on PATH"; exit 1; }
  log "building helm $HELM_VERSION"
  GOBIN="$HELM_ROOT/bin" nice -n 19 go install -p "$JOBS" -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

parts() {
  local part
  for part in "$HERE"/testbed.d/*.sh; do
    [[ -e "$part" ]] || continue
    (BIN="$BIN" CACHE="$CACHE" JOBS="$JOBS" LIB="$HERE/lib"; source "$part") || { log "failed: $part"; exit 1; }
  done
}

if [[ -f "$ROOT/.complete" ]]; then
  ln -sfn "$HELM_ROOT/bin/helm" "$BIN/helm"
  parts
  ln -sfn "$ROOT" "$(dirname "$ROOT")/current"
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { log "needs Go (https://go.dev) on PATH"; exit 1; }
mkdir -p "$BIN" "$ROOT/src"
start=$(date +%s)

# etcd: its server module as a dependency (its own replace directives point into its repository).
if [[ ! -x "$BIN/etcd" ]]; then
  log "building etcd $ETCD_VERSION"
  mkdir -p "$ROOT/etcd-src" && cd "$ROOT/etcd-src"
  printf 'module legato.local/etcd\ngo 1.24\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >go.mod
  GOFLAGS=-mod=mod nice -n 19 go build -p "$JOBS" -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
fi

# kwok and kwokctl: plain go install at the pinned release.
if [[ ! -x "$BIN/kwok" || ! -x "$BIN/kwokctl" ]]; then
  log "building kwok, kwokctl $KWOK_VERSION"
  GOBIN="$BIN" nice -n 19 go install -p "$JOBS" -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
fi

# The control plane: built by the steps the next minor's part (testbed.d/kube-next.sh) shares.
if [[ ! -x "$BIN/kube-apiserver" || ! -x "$BIN/kube-controller-manager" || ! -x "$BIN/kube-scheduler" ]]; then
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_VERSION"
  source "$HERE/lib/kube-control-plane.sh"
  build_control_plane "$KUBE_VERSION" "$ROOT/src" "$BIN"
fi

ln -sfn "$HELM_ROOT/bin/helm" "$BIN/helm"
for b in etcd kwok kwokctl kube-apiserver kube-controller-manager kube-scheduler helm; do
  [[ -x "$BIN/$b" ]] || { log "missing $BIN/$b after the build"; exit 1; }
done
touch "$ROOT/.complete"
parts
ln -sfn "$ROOT" "$(dirname "$ROOT")/current"  # the default LEGATO_TESTBED_BIN is current/bin
log "ready in $(( $(date +%s) - start )) s: $BIN"
echo "$BIN"
