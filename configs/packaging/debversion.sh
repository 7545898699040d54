#!/bin/sh
# debversion.sh DESCRIBE: the Debian package version of a build, from what
# `git describe --tags --always --dirty` said about it. Debian versions must
# start with a digit and sort the way releases follow each other:
#
#   v1.4.0                  1.4.0
#   v1.4.0-rc.1             1.4.0~rc.1        (~ sorts before the release)
#   v1.4.0-3-g1a2b3c4       1.4.0+3.g1a2b3c4  (3 commits after the tag)
#   v1.4.0-dirty            1.4.0+0.dirty     (uncommitted changes: after the
#                                              tag, before the next commit)
#   1a2b3c4 (no tag yet)    0.0.0+57.g1a2b3c4 (57 commits in all)
#
# Anything else that does not make a valid version is refused, so that a
# package never carries a version dpkg would misorder.
set -eu

in=${1:?usage: debversion.sh DESCRIBE}
v=${in#v}
suffix=

case $v in
*-dirty) v=${v%-dirty} dirty=1 ;;
*) dirty= ;;
esac

# Commits since the tag: <tag>-<n>-g<hash>.
if expr "$v" : '.*-[0-9][0-9]*-g[0-9a-f][0-9a-f]*$' >/dev/null; then
	hash=${v##*-g}
	v=${v%-g*}
	n=${v##*-}
	v=${v%-*}
	suffix="+$n.g$hash"
elif expr "$v" : '[0-9a-f]\{7,40\}$' >/dev/null && ! git rev-parse -q --verify "refs/tags/$in" >/dev/null 2>&1; then
	# No tag at all: a bare commit hash (which may be all digits, so it
	# is told from a tag by asking git). The commit count keeps the
	# versions in order.
	n=$(git rev-list --count "$v" 2>/dev/null) || {
		echo "debversion: $in: no tag, and git cannot count the commits" >&2
		exit 1
	}
	suffix="+$n.g$v"
	v=0.0.0
fi

# A pre-release (1.4.0-rc.1) sorts before its release.
v=$(printf '%s' "$v" | tr '-' '~')
if [ -n "$dirty" ]; then
	if [ -n "$suffix" ]; then suffix="$suffix.dirty"; else suffix="+0.dirty"; fi
fi
v="$v$suffix"

if ! expr "$v" : '[0-9][0-9A-Za-z.+~]*$' >/dev/null; then
	echo "debversion: $in: not a release tag like v1.2.3, so no Debian version can be made of it ($v)" >&2
	exit 1
fi
printf '%s\n' "$v"
