#!/usr/bin/env bash
# Regenerate packages/api/src/gen/** from the repo-root proto/ directory.
#
# Compiler: buf (npm devDependency @bufbuild/buf; its binary ships inside the
# npm package @bufbuild/buf-linux-x64 & friends, nothing is downloaded at run
# time). Plugin: ts-proto (devDependency), options in buf.gen.yaml.
# Then scripts/gen-barrel.mjs writes src/etcdserverpb.ts (named re-exports of the
# three etcdserverpb files), and scripts/gen-descriptors.mjs src/gen/descriptors.ts
# (the FileDescriptorSet from `buf build`, for src/strict.ts).
# Output is deterministic: versions are pinned by pnpm-lock.yaml and buf's
# `clean: true` wipes src/gen first, so running this twice gives no diff.
# The generated code is committed; a fresh install does not need to run this.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

buf="node_modules/.bin/buf"
plugin="node_modules/.bin/protoc-gen-ts_proto"
for bin in "$buf" "$plugin"; do
  if [[ ! -x "$bin" ]]; then
    echo "gen.sh: $bin not found; run 'pnpm install' first" >&2
    exit 1
  fi
done

"$buf" generate ../../proto --template buf.gen.yaml
node scripts/gen-barrel.mjs
# The descriptors of the same files, for the strict request checker (src/strict.ts).
desc="$(mktemp)"
trap 'rm -f "$desc"' EXIT
"$buf" build ../../proto --exclude-source-info -o "$desc#format=binpb"
node scripts/gen-descriptors.mjs "$desc"

echo "gen.sh: regenerated $(find src/gen -name '*.ts' | wc -l) files in src/gen and src/etcdserverpb.ts"
