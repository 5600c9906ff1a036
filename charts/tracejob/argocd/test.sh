#!/usr/bin/env bash
# Runs health.lua (the Argo CD health check) with a Lua 5.4 interpreter on each TraceJob in
# statuses/ (recorded from the operator's tests against the real API server with
# TRACEJOB_RECORD_STATUSES=DIR; two derived: a just-created job and an unseen spec change)
# and compares the health with expected.tsv. Part of `make chart-check`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v lua5.4 > /dev/null || { apt-get update -qq && apt-get install -y -qq lua5.4; }
failed=0
while IFS=$'\t' read -r fixture expected; do
	case "$fixture" in '#'*|'') continue ;; esac
	# JSON to a Lua table literal, the shape Argo CD hands the script as `obj`.
	table=$(python3 -c '
import json, sys
def lua(v):
    if isinstance(v, dict):
        return "{" + ",".join("[%s]=%s" % (json.dumps(k), lua(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "{" + ",".join(lua(x) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    return json.dumps(v)
print(lua(json.load(open(sys.argv[1]))))' "$here/statuses/$fixture")
	got=$(lua5.4 -e "obj = $table
local hs = (function() $(cat "$here/health.lua")
end)()
print(hs.status .. '|' .. (hs.message or ''))")
	status=${got%%|*}
	if [ "$status" = "$expected" ]; then
		echo "ok   $fixture: $got"
	else
		echo "FAIL $fixture: expected $expected, got $got"
		failed=1
	fi
done < "$here/expected.tsv"
exit $failed
