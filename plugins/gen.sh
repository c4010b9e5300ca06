#!/bin/sh
# gen.sh regenerates the Go code of the plugin protocol from
# proto/ark/v1/ark.proto, with pinned versions of buf, protoc-gen-go and
# protoc-gen-go-grpc installed by `go install` (no protoc needed; works
# offline once the tools are installed).
#
#   plugins/gen.sh [--check] [BIN_DIR]
#
# BIN_DIR is where the tools go (default: $(go env GOPATH)/bin); they are
# only (re)installed when missing or at another version.
# --check regenerates into a temporary copy and fails if the committed code
# differs from what the .proto produces, leaving the tree untouched.
set -eu

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

check=0
if [ "${1:-}" = "--check" ]; then
	check=1
	shift
fi
bin=${1:-$(go env GOPATH)/bin}
mkdir -p "$bin"
bin=$(cd "$bin" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

# install NAME PACKAGE VERSION: go install PACKAGE@VERSION into $bin unless
# $bin/NAME --version already reports VERSION.
install() {
	if [ -x "$bin/$1" ] && "$bin/$1" --version 2>&1 | grep -q "${3#v}"; then
		return
	fi
	echo "gen.sh: installing $2@$3 into $bin" >&2
	GOBIN=$bin GOFLAGS=-mod=mod go install "$2@$3"
}
install buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION"
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

PATH=$bin:$PATH
export PATH

if [ "$check" = 0 ]; then
	cd "$here"
	buf lint
	buf generate
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/buf.yaml" "$here/buf.gen.yaml" "$tmp/"
(cd "$here" && find proto -name '*.proto' | tar cf - -T -) | (cd "$tmp" && tar xf -)
(cd "$tmp" && buf lint && buf generate)
status=0
for f in $( (cd "$tmp" && find proto -name '*.pb.go') && (cd "$here" && find proto -name '*.pb.go') | sort -u); do
	if ! cmp -s "$tmp/$f" "$here/$f"; then
		echo "gen.sh: plugins/$f is out of date: run plugins/gen.sh" >&2
		status=1
	fi
done
exit $status
