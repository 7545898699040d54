#!/bin/sh
# deb.sh NAME ARCH: builds cmd/NAME for a Debian architecture (amd64, arm64,
# armhf) and packs it with nfpm (configs/packaging/NAME.yaml) into $DIST.
# `make package` runs it from the repository root and sets GO, VERSION (what
# git describe says), LDFLAGS and DIST.
set -eu

name=${1:?usage: deb.sh NAME ARCH} arch=${2:?usage: deb.sh NAME ARCH}
: "${GO:=go}" "${DIST:=dist}" "${VERSION:?set by make}" "${LDFLAGS:=}"
# Who answers for the packages; a county's IT team puts its own address.
: "${DEB_MAINTAINER:=Dalaba maintainers <maintainers@dalaba.invalid>}"
export DEB_MAINTAINER

extra=
case $arch in
amd64) goarch=amd64 goarm= ;;
arm64) goarch=arm64 goarm= ;;
armhf)
	# Debian's armhf is ARMv7 with hard float (not the ARMv6 of the
	# first Pis and the Pi Zero). The binary names the hard-float loader:
	# firmware-notes/README.md says why.
	goarch=arm goarm=7 extra='-I /lib/ld-linux-armhf.so.3'
	;;
*)
	echo "deb.sh: architecture $arch: want amd64, arm64 or armhf" >&2
	exit 2
	;;
esac
[ -f "configs/packaging/$name.yaml" ] || {
	echo "deb.sh: no configs/packaging/$name.yaml" >&2
	exit 2
}

DEB_VERSION=$(configs/packaging/debversion.sh "$VERSION")
BIN=$DIST/linux-$arch/$name
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
	"$GO" build -trimpath -ldflags "$LDFLAGS $extra" -o "$BIN" "./cmd/$name"
DEB_ARCH=$arch DEB_VERSION=$DEB_VERSION BIN=$BIN \
	"$GO" tool nfpm package --packager deb --config "configs/packaging/$name.yaml" \
	--target "$DIST/${name}_${DEB_VERSION}_$arch.deb" >/dev/null
echo "$DIST/${name}_${DEB_VERSION}_$arch.deb"
