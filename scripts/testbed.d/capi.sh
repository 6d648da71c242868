# Cluster API for the test bed (sourced by scripts/testbed.sh after the core; see README.md here):
# the real managers -- core (cluster-api), kubeadm bootstrap, kubeadm control plane -- built from
# the sigs.k8s.io/cluster-api module, and their CRDs copied from the same module, so a test can run
# them against a test-bed kube-apiserver as the management cluster. v1.13.6 is the newest v1.13
# release the Go module proxy serves (v1.13.7 of the main module is refused; only its test module
# is served, whose in-memory provider the test bed does not use: see docs/design.md, "Cluster API").
# The managers run without cert-manager: their webhooks are not registered in the management cluster
# (the tests create only objects Legato writes, in the storage version v1beta2, so neither conversion
# nor defaulting webhooks are needed), and each serves its webhook port with a self-signed
# certificate made here, only because controller-runtime insists on starting that server.
CAPI_VERSION="${LEGATO_CAPI_VERSION:-v1.13.6}"
CAPI_ROOT="$CACHE/capi-${CAPI_VERSION}"

if [[ ! -f "$CAPI_ROOT/.complete" ]]; then
  command -v go >/dev/null || { log "needs Go (https://go.dev) on PATH"; exit 1; }
  capi_start=$(date +%s)
  mkdir -p "$CAPI_ROOT/src" "$CAPI_ROOT/bin" "$CAPI_ROOT/crds" "$CAPI_ROOT/webhook-certs"
  cd "$CAPI_ROOT/src"
  printf 'module legato.local/capi\ngo 1.25.0\nrequire sigs.k8s.io/cluster-api %s\n' "$CAPI_VERSION" >go.mod
  pkg=sigs.k8s.io/cluster-api/version
  ldflags="-s -w -X $pkg.gitVersion=$CAPI_VERSION -X $pkg.gitMajor=1 -X $pkg.gitTreeState=clean"
  for target in capi-manager=sigs.k8s.io/cluster-api \
                capi-kubeadm-bootstrap-manager=sigs.k8s.io/cluster-api/bootstrap/kubeadm \
                capi-kubeadm-control-plane-manager=sigs.k8s.io/cluster-api/controlplane/kubeadm; do
    if [[ ! -x "$CAPI_ROOT/bin/${target%%=*}" ]]; then
      log "building ${target%%=*} (Cluster API $CAPI_VERSION)"
      GOFLAGS=-mod=mod nice -n 19 go build -p "$JOBS" -trimpath -ldflags "$ldflags" \
        -o "$CAPI_ROOT/bin/${target%%=*}" "${target#*=}"
    fi
  done
  module=$(GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' sigs.k8s.io/cluster-api)
  cp "$module"/config/crd/bases/*.yaml "$module"/bootstrap/kubeadm/config/crd/bases/*.yaml \
    "$module"/controlplane/kubeadm/config/crd/bases/*.yaml "$CAPI_ROOT/crds/"
  chmod u+w "$CAPI_ROOT"/crds/*.yaml
  # The contract labels the providers' kustomizations add (CAPI finds a kind's version by them).
  sed -i 's#^metadata:$#metadata:\n  labels:\n    cluster.x-k8s.io/v1beta1: v1beta1\n    cluster.x-k8s.io/v1beta2: v1beta2#' \
    "$CAPI_ROOT"/crds/*.yaml
  # The webhook servers' certificate (controller-runtime starts them whether or not anything calls them).
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=capi-webhook-localhost \
    -keyout "$CAPI_ROOT/webhook-certs/tls.key" -out "$CAPI_ROOT/webhook-certs/tls.crt" 2>/dev/null
  touch "$CAPI_ROOT/.complete"
  log "Cluster API $CAPI_VERSION built in $(( $(date +%s) - capi_start )) s"
fi
for b in capi-manager capi-kubeadm-bootstrap-manager capi-kubeadm-control-plane-manager; do
  ln -sfn "$CAPI_ROOT/bin/$b" "$BIN/$b"
done
ln -sfn "$CAPI_ROOT/crds" "$BIN/capi-crds"
ln -sfn "$CAPI_ROOT/webhook-certs" "$BIN/capi-webhook-certs"
