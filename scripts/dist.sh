#!/bin/sh
# Assembles the deployable function app in dist/ (or $DIST_DIR):
#
#   dist/host.json
#   dist/<function>/function.json   one folder per top-level folder holding a function.json
#   dist/bin/handler                the handler, built for linux/amd64 (host.json's defaultExecutablePath)
#
# and nothing else: no Go sources, no local.settings.json, no .tools or .azurite. That folder
# is what Azure runs; deploy it with `azd deploy`, `cd dist && func azure functionapp publish
# <app> --custom`, or zip it for Azure/functions-action (see infra/README.md).
#
# POSIX sh on purpose: azd runs it as a prepackage hook with `shell: sh`.
# Environment: DIST_DIR (default dist, relative to the repo root), GO (default go).
set -eu

cd "$(dirname "$0")/.."
root=$(pwd -P)
go=${GO:-go}
dist=${DIST_DIR:-dist}
case $dist in
/*) ;;
*) dist=$root/$dist ;;
esac
while :; do
	case $dist in
	*/) dist=${dist%/} ;;
	*) break ;;
	esac
done
# The folder is deleted and replaced: refuse anything that could be the repo, its sources
# or one of their ancestors.
case $dist in
"" | */. | */./* | */.. | */../* | "$root" | "$root"/handler | "$root"/handler/* | "$root"/internal | "$root"/internal/* | "$root"/durable | "$root"/durable/* | "$root"/.git | "$root"/.git/*)
	echo "dist.sh: refusing to use '${DIST_DIR:-dist}' as the output folder" >&2
	exit 1
	;;
esac
case $root/ in
"$dist"/*)
	echo "dist.sh: refusing to use '${DIST_DIR:-dist}' as the output folder (it holds the repo)" >&2
	exit 1
	;;
esac

exe=bin/handler
if ! grep -Eq '"defaultExecutablePath"[[:space:]]*:[[:space:]]*"'"$exe"'"' host.json; then
	echo "dist.sh: host.json customHandler.description.defaultExecutablePath is not \"$exe\"; update scripts/dist.sh too" >&2
	exit 1
fi

# Build into a sibling staging folder and swap it in at the end, so a failed build never
# leaves a half-made dist/ behind and a rerun always starts clean.
parent=$(dirname "$dist")
mkdir -p "$parent"
stage=$(mktemp -d "$parent/.dist.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
chmod 755 "$stage"

echo "dist.sh: building $exe (linux/amd64)" >&2
mkdir -p "$stage/bin"
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w" -o "$stage/$exe" ./handler
chmod 755 "$stage/$exe"

cp host.json "$stage/host.json"
n=0
for fj in */function.json; do
	[ -f "$fj" ] || continue # no match: the pattern itself
	fn=${fj%/function.json}
	mkdir -p "$stage/$fn"
	cp "$fj" "$stage/$fn/function.json"
	n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
	echo "dist.sh: no */function.json found in $root" >&2
	exit 1
fi
find "$stage" -type d -exec chmod 755 {} +
find "$stage" -type f ! -path "$stage/$exe" -exec chmod 644 {} +

rm -rf "$dist"
mv "$stage" "$dist"
trap - EXIT INT TERM
echo "dist.sh: $dist ready ($n functions)" >&2
