#!/usr/bin/env bash
# Byte-compare what two source trees report on every run in fixtures/runs/.
#
#   benchmarks/compare_reports.sh BASE_TREE [NEW_TREE]   (NEW_TREE defaults to this tree)
#
# For each fixture run, each tree writes (with PYTHONPATH set to that tree, from the tree's
# root so relative paths match): the Markdown report (`analyze RUN -o DIR/report.md`), the
# JSON report (`analyze RUN -o DIR/report.json`), the terminal summary, and once the rule
# listing (`rules --json`). Then the two folders are diffed; exit 1 on any difference.
# A base tree is any checkout, e.g. `git archive <commit> | tar -x -C /tmp/base`; a tree
# without hnet_diag/report_templates gets the symlink to reports/templates a worktree has.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
base=$(cd "$1" && pwd); new=$(cd "${2:-$here}" && pwd)
out=$(mktemp -d /tmp/compare-reports.XXXX)
render() {  # tree dest
  local tree=$1 dest=$2
  (cd "$tree" && export PYTHONPATH=$tree
   mkdir -p "$dest"
   hnet-diag rules --json > "$dest/rules.json" 2>&1
   for run in fixtures/runs/*/; do
     name=$(basename "$run"); mkdir -p "$dest/$name"
     hnet-diag analyze "fixtures/runs/$name" -o "$dest/$name/report.md" > "$dest/$name/terminal.txt" 2>&1
     hnet-diag analyze "fixtures/runs/$name" --no-plots -o "$dest/$name/report.json" > /dev/null 2>&1
     sed -i "s#$dest#OUT#g" "$dest/$name/terminal.txt"
   done)
}
[ -d "$base/fixtures/runs" ] || { echo "no fixtures/runs in $base"; exit 2; }
for tree in "$base" "$new"; do  # the report templates, linked the way /work/wt/new.sh links them
  [ -e "$tree/hnet_diag/report_templates" ] || ln -s ../reports/templates "$tree/hnet_diag/report_templates"
done
render "$base" "$out/base" & render "$new" "$out/new"; wait
status=0
for f in $(cd "$out/base" && find . -type f \( -name '*.md' -o -name '*.json' -o -name '*.txt' \) | sort); do
  if ! cmp -s "$out/base/$f" "$out/new/$f"; then
    status=1; echo "=== DIFF $f"; diff "$out/base/$f" "$out/new/$f" | head -"${DIFF_LINES:-30}"
  fi
done
echo "outputs under $out (base/, new/); exit $status"
exit $status
