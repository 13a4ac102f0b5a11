#!/usr/bin/env bash
# Regenerate the README's figures (docs/figures/*.png) from nninit itself.
# Run from the repository root with nninit installed: bash docs/make_figures.sh
set -euo pipefail
out=docs/figures
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nninit std-trace --plot "$out/std-trace.png" > /dev/null
nninit std-trace --act relu --init kaiming --backward --plot "$out/std-trace-relu-kaiming.png" > /dev/null
nninit std-trace --arch resmlp --layers 64 --width 512 --act relu --init kaiming --norm layer --plot "$out/std-trace-resmlp.png" > /dev/null
nninit grad-norms --act sigmoid,relu --plot "$out/grad-norms.png" > /dev/null
nninit grad-norms --act relu,lrelu --bias -8 --plot "$out/dead-relu.png" > /dev/null
nninit init-compare --acts relu,tanh,sigmoid --gain torch --plot "$out/init-compare.png" > /dev/null
nninit train --init normal --std 1 --epochs 1000 --out "$tmp/e2" --plot "$out/train-curves.png" > /dev/null
nninit activations --plot "$out/activations.png" > /dev/null
nninit init-hist --plot "$out/init-hist.png" > /dev/null
nninit coord-check --plot "$out/coord-check.png" > /dev/null
nninit phase --sigma-w2 1:4:40 --sigma-b2 0:2:40 --plot "$out/phase.png" > /dev/null
nninit phase --sigma-w2 0.5:4:8 --train-depths 4,16,48 --seeds 1 --plot "$out/phase-trainability.png" > /dev/null
nninit jacobian --act relu --init kaiming --plot "$out/jacobian.png" > /dev/null
echo "figures written to $out"
