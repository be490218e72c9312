#!/usr/bin/env bash
# CTest: install qlab into a temporary prefix, build plugins/template out of tree against it,
# and run its example experiment with the plugin found through QLAB_PLUGIN_PATH.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cp -r "$src/plugins/template" "$work/template"
cmake -S "$work/template" -B "$work/template/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/template/build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
# The example's relative paths point at the checkout's datasets/.
sed "s#\.\./\.\./datasets#$src/datasets#g" "$src/plugins/template/example.toml" > "$work/example.toml"
# (to a file: `| grep -q` closes the pipe early, and under pipefail qlab's SIGPIPE fails the script)
QLAB_PLUGIN_PATH="$work/template/build" "$work/prefix/bin/qlab" plugins > "$work/plugins.txt"
grep -q "^my_quantizer 0.1.0" "$work/plugins.txt"
QLAB_PLUGIN_PATH="$work/template/build" "$work/prefix/bin/qlab" run "$work/example.toml" --out "$work/example.h5" 2>/dev/null
echo "template plugin built out of tree and ran"
