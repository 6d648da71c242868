# Sourced by scripts/testbed.sh and scripts/testbed.d/kube-next.sh: builds one release of the
# Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler) from the
# k8s.io/kubernetes Go module, so two minors of the test bed are built the one same way.
#
# build_control_plane VERSION SRC_DIR OUT_DIR: k8s.io/kubernetes as a dependency of a small module in
# SRC_DIR, with each staging module it replaces by a local path mapped to its published version of
# the same release (v1.X.Y -> v0.X.Y); the binaries carry VERSION as their /version. Needs JOBS.
build_control_plane() {
  local version="$1" src="$2" out="$3" gomod staging goversion minor pkg ldflags
  mkdir -p "$src" "$out"
  gomod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  staging="v0.${version#v1.}"
  goversion=$(sed -n 's/^go \(.*\)/\1/p' "$gomod")
  {
    echo "module legato.local/testbed"
    echo "go $goversion"
    sed -n 's/^godebug .*/&/p' "$gomod"
    echo "require k8s.io/kubernetes $version"
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"$staging"'#p' "$gomod"
  } >"$src/go.mod"
  minor="${version#v1.}"
  minor="${minor%%.*}"
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$version"
  (cd "$src" && GOFLAGS=-mod=mod nice -n 19 go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
}
