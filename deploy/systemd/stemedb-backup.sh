#!/bin/sh
# The daily backup (stemedb-backup.service runs it; install as /usr/local/lib/stemedb/stemedb-backup.sh).
#
# Each run makes a new directory $STEMEDB_BACKUP_DIR/<UTC time> with `stemedb backup` (an online
# backup: the server keeps serving). Only when it succeeds does `latest` move to it — atomically,
# by renaming a fresh symlink over the old one — and only then are complete backups beyond
# $STEMEDB_BACKUP_KEEP removed, oldest first. A failed run removes its own partial directory and
# leaves `latest` on the last good backup, so stemedb-verify.service never checks a half-made one.
set -eu

bin=${STEMEDB_BIN:-/usr/local/bin/stemedb}
data=${STEMEDB_DATA_DIR:?STEMEDB_DATA_DIR is not set}
root=${STEMEDB_BACKUP_DIR:?STEMEDB_BACKUP_DIR is not set}
keep=${STEMEDB_BACKUP_KEEP:-7}
case $keep in '' | *[!0-9]* | 0) echo "STEMEDB_BACKUP_KEEP: expected a positive integer, got '$keep'" >&2; exit 2 ;; esac

name=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/$name"
if [ -e "$out" ]; then echo "$out already exists; not overwriting it" >&2; exit 1; fi

trap 'rm -rf "$out"' EXIT
"$bin" backup --data-dir "$data" --out "$out"
trap - EXIT

ln -s "$name" "$root/.latest.$$"
mv -T "$root/.latest.$$" "$root/latest"
echo "backup $out complete; latest -> $name"

# Names are UTC times, so a lexical sort is a time sort. A directory without a manifest is a
# backup that never finished (a run killed outright, past the trap): removed. Of the complete
# ones, the newest $keep stay.
backups() { ls -1 "$root" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort; }
for old in $(backups); do
  if [ "$old" != "$name" ] && [ ! -f "$root/$old/manifest.json" ]; then
    echo "removing unfinished backup $root/$old"
    rm -rf "${root:?}/$old"
  fi
done
for old in $(backups | head -n "-$keep"); do
  echo "removing old backup $root/$old"
  rm -rf "${root:?}/$old"
done
