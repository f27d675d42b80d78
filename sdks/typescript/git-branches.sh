#!/usr/bin/env bash
# npm installs a package from a git URL only when the package is the repository's root.
# This makes one branch per TypeScript SDK whose root is that package (from HEAD, no
# checkout, no history rewrite), so users can install from git:
#
#   sdks/typescript/git-branches.sh              # every package → sdk/typescript/<dir>
#   git push origin 'refs/heads/sdk/typescript/*'
#   npm install 'git+https://github.com/<you>/orrery.git#sdk/typescript/lexecon'
#
# npm then runs the package's `prepare` script, which builds dist/ (TypeScript from npm).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
for package in sdks/typescript/*/package.json; do
  dir="$(basename "$(dirname "$package")")"
  tree="$(git rev-parse "HEAD:sdks/typescript/$dir")"
  commit="$(git commit-tree "$tree" -m "TypeScript SDK $dir from $(git rev-parse --short HEAD)")"
  git update-ref "refs/heads/sdk/typescript/$dir" "$commit"
  echo "sdk/typescript/$dir → $(git rev-parse --short "$commit")"
done
