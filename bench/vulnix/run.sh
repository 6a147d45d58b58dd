#!/usr/bin/env bash
# vulnix 1.10.1 and `provenix vulns` side by side on the small dataset of
# bench/vulnix/dataset.py: both answers as lines `ID pname version`, a Markdown
# table of where they differ and why, and both timed (hyperfine). Markdown on
# stdout, logs on stderr.
#
#   bash bench/vulnix/run.sh
#
# PROVENIX names the binary (default target/release/provenix; bench/run.sh
# passes its own); BENCH_DIR the work directory (default target/bench).
#
# How vulnix runs offline, on a throwaway store:
# - vulnix fetches nvdcve-1.1-YEAR.json.gz for this year and the five before
#   from --mirror (it reads no .meta and has no offline mode), so dataset.py
#   writes those six feeds and `python3 -m http.server` serves them on
#   127.0.0.1 (port 0: the kernel picks a free one, read back from its log).
# - vulnix finds the closure with `nix-store -qR DRV` and reads the .drv files
#   at their /nix/store paths. The closure is instantiated into the throwaway
#   store $work/vulnix/store, and vulnix runs in a private mount namespace
#   (`unshare --mount`, as root) with that store's nix/ directory bind-mounted
#   over /nix: there, nix-store opens the throwaway database and the .drv paths
#   exist; the host store is never read or written.
# - --cache-dir keeps its parsed database (ZODB) in $work/vulnix; it skips the
#   download when it updated less than two hours ago (the `warm` timing).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${BENCH_DIR:-target/bench}
mkdir -p "$work"
dir=$PWD/$work/vulnix
venv=$PWD/$work/venv
provenix=${PROVENIX:-$PWD/target/release/provenix}
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

if ! "$venv/bin/vulnix" --version 2>/dev/null | grep -qx 'vulnix 1.10.1'; then
  echo "installing vulnix 1.10.1 into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # vulnix imports pkg_resources, which newer setuptools no longer ship.
  "$venv/bin/pip" install -q vulnix==1.10.1 'setuptools<81' >&2
fi
if [ ! -d /nix ] || ! unshare --mount true 2>/dev/null; then
  echo "needs /nix (Debian nix-bin) and unshare --mount (root)" >&2; exit 2
fi

rm -rf "$dir"
python3 bench/vulnix/dataset.py write "$dir"
drv=$(nix-instantiate --store "$dir/store" --option substituters '' --option build-users-group '' \
  bench/vulnix/closure.nix --argstr packages "$dir/packages.json" 2>/dev/null)

python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$dir/feed" > "$dir/http.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
port=
for _ in $(seq 50); do
  port=$(sed -n 's/^Serving HTTP on 127.0.0.1 port \([0-9]*\) .*/\1/p' "$dir/http.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "http.server did not start: $(cat "$dir/http.log")" >&2; exit 2; }
mirror=http://127.0.0.1:$port/

# vulnix exits 2 when it finds something, 0 when not, other codes on errors.
vulnix_cmd() { # cache dir
  echo "unshare --mount sh -c 'mount --bind $dir/store/nix /nix && exec $venv/bin/vulnix --json --mirror $mirror --cache-dir $1 $drv'"
}
set +e
sh -c "$(vulnix_cmd "$dir/cache")" > "$dir/vulnix.json"
rc=$?
set -e
[ "$rc" -le 2 ] || { echo "vulnix failed (exit $rc)" >&2; exit 2; }
jq -r '.[] | .pname as $p | .version as $v | .affected_by[] | "\(.) \($p) \($v)"' "$dir/vulnix.json" | sort > "$dir/vulnix.txt"

provenix_cmd="$provenix --store $dir/store vulns $drv --vuln-db $dir/db --identities $dir/identities.toml --json"
have_provenix=
if [ -x "$provenix" ] && "$provenix" vulns --help > /dev/null 2>&1; then
  set +e
  $provenix_cmd > "$dir/provenix.json" 2> "$dir/provenix.err"
  rc=$?
  set -e
  # Findings a patch suppresses are reported, not hidden: leave those out here.
  if [ "$rc" -le 1 ] && jq -e '.findings | type == "array"' "$dir/provenix.json" > /dev/null 2>&1 && jq -r '.findings[] | select((.suppressed // false) | not) | .id as $id | .components[]
                               | "\($id) \(.pname) \(.version)"' "$dir/provenix.json" > "$dir/provenix.txt"; then
    have_provenix=1
    sort -u -o "$dir/provenix.txt" "$dir/provenix.txt"
  elif [ "$rc" -le 1 ]; then
    echo "provenix vulns --json: not the expected .findings[].components[] shape" >&2
  else
    echo "provenix vulns failed (exit $rc): $(cat "$dir/provenix.err")" >&2
  fi
fi

echo "### vulnix 1.10.1 and provenix vulns on the same small dataset"; echo
echo "$(jq '.vulnerabilities | length' "$dir/db/nvd/nvdcve-2.0-page-0000.json") entries" \
     "(bench/vulnix/dataset.py; NVD JSON 1.1 feeds for vulnix served on 127.0.0.1, the same entries as an NVD API 2.0 page for provenix)" \
     "against $(jq length "$dir/packages.json") packages (bench/vulnix/closure.nix). vulnix runs as:"; echo
echo '```'
vulnix_cmd "$dir/cache"
echo '```'; echo
echo "vulnix says (\`ID pname version\`, pname as vulnix splits the drv name):"; echo
echo '```'; cat "$dir/vulnix.txt"; echo '```'; echo
if [ -n "$have_provenix" ]; then
  echo "provenix says (\`$provenix_cmd\`):"; echo
  echo '```'; cat "$dir/provenix.txt"; echo '```'; echo
  python3 bench/vulnix/dataset.py table "$dir" "$dir/vulnix.txt" "$dir/provenix.txt"
else
  echo "provenix vulns not available yet."; echo
  python3 bench/vulnix/dataset.py table "$dir" "$dir/vulnix.txt" -
fi
echo

echo "Timings: vulnix cold (empty --cache-dir: fetch the six feeds, parse, index, scan), vulnix warm (its cache" \
     "updated less than two hours ago: no download)$([ -n "$have_provenix" ] && echo ", provenix (index built by the warm-up run)")."; echo
cmds=(-n "vulnix --json, cold cache" "--prepare" "rm -rf $dir/cache-cold" "$(vulnix_cmd "$dir/cache-cold") > /dev/null; test \$? -eq 2"
      -n "vulnix --json, warm cache" "$(vulnix_cmd "$dir/cache") > /dev/null; test \$? -eq 2")
[ -n "$have_provenix" ] && cmds+=(-n "provenix vulns --json" "$provenix_cmd > /dev/null; test \$? -le 1")
hyperfine --style basic --warmup 2 --min-runs 10 --export-json "$dir/timing.json" "${cmds[@]}" >&2
echo "| Command | Median [ms] | Mean ± σ [ms] | Min [ms] | Max [ms] | Runs |"
echo "|:---|---:|---:|---:|---:|---:|"
jq -r '.results[] | [.command, .median, .mean, .stddev, .min, .max, (.times | length)] | @tsv' "$dir/timing.json" |
  awk -F'\t' '{ printf "| `%s` | %.1f | %.1f ± %.1f | %.1f | %.1f | %d |\n", $1, $2*1000, $3*1000, $4*1000, $5*1000, $6*1000, $7 }'
echo
