#!/usr/bin/env bash
# Resident memory of a running process, summed per mapped file from /proc/PID/smaps, largest first,
# after the process totals (VmRSS, RssAnon, RssFile, RssShmem from /proc/PID/status). Anonymous
# mappings are grouped as [anon] (heap, thread stacks, malloc arenas); [stack], [vdso] etc. keep
# their names. Rss of a shared file counts fully here even if other processes map it too (Pss
# column: the proportional share). Read-only; needs read access to /proc/PID (same user or root).
#
#   bench/rss_by_mapping.sh PID [TOP]     # TOP=25 rows by default; 0 for all
set -euo pipefail
pid="${1:?usage: rss_by_mapping.sh PID [TOP]}"
top="${2:-25}"
[[ -r "/proc/$pid/smaps" ]] || { echo "cannot read /proc/$pid/smaps" >&2; exit 1; }

awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ {printf "%-10s %8.1f MB\n", $1, $2 / 1024}' "/proc/$pid/status"
echo
awk -v top="$top" '
    # A mapping header: "start-end perms offset dev inode [path]"; the path is field 6 onwards.
    /^[0-9a-f]+-[0-9a-f]+ / {
        name = "[anon]"
        if (NF >= 6) { name = $6; for (i = 7; i <= NF; i++) name = name " " $i }
        next
    }
    $1 == "Rss:" { rss[name] += $2 }
    $1 == "Pss:" { pss[name] += $2 }
    END {
        n = 0
        for (k in rss) { keys[++n] = k }
        # Insertion sort by Rss, descending (a few hundred mappings at most).
        for (i = 2; i <= n; i++) {
            k = keys[i]; j = i - 1
            while (j > 0 && rss[keys[j]] < rss[k]) { keys[j + 1] = keys[j]; j-- }
            keys[j + 1] = k
        }
        printf "%9s %9s  %s\n", "Rss kB", "Pss kB", "mapping"
        total = 0
        for (i = 1; i <= n; i++) {
            total += rss[keys[i]]
            if (top == 0 || i <= top) printf "%9d %9d  %s\n", rss[keys[i]], pss[keys[i]], keys[i]
        }
        if (top != 0 && n > top) printf "%9s %9s  (%d more mappings)\n", "...", "", n - top
        printf "%9d %9s  total over %d mappings\n", total, "", n
    }
' "/proc/$pid/smaps"
