#!/usr/bin/env bash
# Where the hook's time goes: runs the cases of bench/run.sh under callgrind (instruction
# counts: exact and independent of the machine's load) and prints, per case, the share of
# the main phases and the functions with the highest own cost.
#
# Usage: bench/profile.sh        (after bench/run.sh, whose repositories and store it reuses)
# Needs valgrind (apt-get install valgrind; not in install/deps.sh: profiling is optional).
# Output: bench/out/profile/{one-2k,one-20k,many-20k}.callgrind and a markdown summary on stdout
# (also bench/out/profile/summary.md). Takes about 3 minutes on the bench machine.
set -euo pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
out=$bench/out
prof=$out/profile
pc=${PORTCULLIS:-$out/prefix/bin/portcullis}

command -v valgrind >/dev/null || { echo "bench/profile.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
[[ -x $pc && -f $out/repo-20000/many.in && -f $out/server.yaml ]] ||
  { echo "bench/profile.sh: run bench/run.sh first" >&2; exit 1; }
mkdir -p "$prof"

# Under callgrind the hook runs ~50 times slower: give it a budget it cannot reach, so that
# the profile covers the whole push and not a push cut short by the watchdog.
config=$prof/server.yaml
sed -e 's/^timeBudget:.*/timeBudget: 3600s/' -e "s|^auditLog:.*|auditLog: $prof/audit.jsonl|" \
  "$out/server.yaml" >"$config"

# Labels and the function each one is the inclusive cost of (first match in the annotation).
phases=(
  "dynamic loading (ld.so)|_dl_start "
  "libgit2 init (mbedTLS parses the CA bundle)|git_libgit2_init "
  "tree diff and everything under it|Repository::diff\("
  ">tree object lookups|git_tree_lookup "
  ">blob reads (Repository::read_blob)|Repository::read_blob"
  ">blob size lookups (Repository::object_size, both calls)|Repository::object_size"
  ">object hash verification (git_odb_hash)|git_odb_hash "
  ">zlib inflate|inflate "
  ">YAML parse into the Node tree (checks.cpp parse)|hooks::\(anonymous namespace\)::parse\("
  ">>libyaml (yaml_parser_parse)|yaml_parser_parse "
  ">>plain-scalar resolution (resolve_plain_scalar)|yaml::resolve_plain_scalar\("
  ">schema validation (schema::validate)|schema::validate\("
  "identity index load and lookups|IdentityIndex::l"
)

summary() {
  local name=$1 file=$2 inclusive self total
  inclusive=$(callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | grep -F '[/')
  self=$(callgrind_annotate "$file" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | grep -vF 'PROGRAM TOTALS')
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ && !t {t = $1} END {print t}')
  echo "### $name: $total instructions"
  echo
  echo "| phase (inclusive) | share |"
  echo "|---|---:|"
  for p in "${phases[@]}"; do
    local label=${p%%|*} pattern=${p#*|} line
    line=$(grep -E -m1 "$pattern" <<<"$inclusive" || true)
    [[ -n $line ]] || continue
    local indent='&nbsp;&nbsp;&nbsp;'
    echo "| ${label//>/"$indent"} | $(sed -E 's/^ *[0-9,]+ \( *([0-9.]+%)\).*/\1/' <<<"$line") |"
  done
  echo
  echo "Highest own cost:"
  echo
  echo '```'
  head -n 15 <<<"$self" | sed -E 's/std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >/std::string/g; s/std::basic_string_view<char, std::char_traits<char> >/std::string_view/g' | cut -c1-150
  echo '```'
  echo
}

run_case() {
  local name=$1 repo=$2 input=$3
  echo "bench/profile.sh: callgrind: $name" >&2
  (cd "$repo" && GIT_DIR=. valgrind --tool=callgrind --callgrind-out-file="$prof/$name.callgrind" \
    "$pc" hook pre-receive --config "$config" <"$input" >/dev/null 2>"$prof/$name.log") ||
    { tail -n 20 "$prof/$name.log" >&2; echo "bench/profile.sh: the hook failed under callgrind ($name)" >&2; exit 1; }
}

# The indexes of main must be warm, as in bench/run.sh.
for n in 2000 20000; do
  (cd "$out/repo-$n/hooked.git" && GIT_DIR=. "$pc" hook post-receive --config "$config" <"../base.in")
done
run_case one-2k "$out/repo-2000/hooked.git" "$out/repo-2000/one.in"
run_case one-20k "$out/repo-20000/hooked.git" "$out/repo-20000/one.in"
run_case many-20k "$out/repo-20000/hooked.git" "$out/repo-20000/many.in"

{
  echo "## Profile of the pre-receive hook ($(date -u '+%Y-%m-%d'), callgrind, warm index)"
  echo
  summary "A: one changed manifest, 2,000-manifest repository" "$prof/one-2k.callgrind"
  summary "A: one changed manifest, 20,000-manifest repository" "$prof/one-20k.callgrind"
  summary "B: 5,000 changed manifests, strict" "$prof/many-20k.callgrind"
} | tee "$prof/summary.md"
