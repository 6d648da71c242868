# The control plane's next minor (kube-apiserver, kube-controller-manager, kube-scheduler), what a
# kwok cluster upgrades to: the core test bed runs v1.34.4, the Go proxy also serves v1.35.4. Built
# by the same steps as the core's (scripts/lib/kube-control-plane.sh) into its own cache directory,
# and linked into $BIN/kube-<version>/ (the kwok MCM finds each release there by its version).
KUBE_NEXT_VERSION="${LEGATO_KUBE_NEXT_VERSION:-v1.35.4}"
kube_next_root="$CACHE/kube-$KUBE_NEXT_VERSION"
if [[ ! -f "$kube_next_root/.complete" ]]; then
  command -v go >/dev/null || { log "needs Go (https://go.dev) on PATH"; exit 1; }
  source "$LIB/kube-control-plane.sh"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_NEXT_VERSION"
  kube_next_start=$(date +%s)
  build_control_plane "$KUBE_NEXT_VERSION" "$kube_next_root/src" "$kube_next_root/bin"
  touch "$kube_next_root/.complete"
  log "kube $KUBE_NEXT_VERSION built in $(( $(date +%s) - kube_next_start )) s"
fi
ln -sfn "$kube_next_root/bin" "$BIN/kube-$KUBE_NEXT_VERSION"
