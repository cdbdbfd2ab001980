#!/usr/bin/env bash
# Usage: bench/ab-fold.sh OLD_RELEASE_DIR
#   Session 5's A/B (docs/benchmarks.md): the replication tail with the sidecar's apply path
#   (C loop, OLD `binlog-reconciler bench-replication --shadow`, new `binlog-reconciler-bench
#   replication --shadow`, 5 alternating rounds) and `analyze` (9 alternating rounds) beside
#   `mariadb-binlog -v`, on the bench set (scripts/gen-bench-binlog). OLD_RELEASE_DIR holds a release
#   build from before the benchmarks moved out of the product (it has `bench-replication`).
#   Results in /tmp/bench5.out. Holds /tmp/swift-build.lock while measuring.
set -e
OLD=${1:?usage: bench/ab-fold.sh OLD_RELEASE_DIR}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
OUT=/tmp/bench5.out; : > $OUT
flock /tmp/swift-build.lock swift build -c release --product binlog-reconciler > /tmp/b5-build.log 2>&1
flock /tmp/swift-build.lock swift build -c release --product binlog-reconciler-bench >> /tmp/b5-build.log 2>&1
NEW=$PWD/.build/release
echo "HEAD $(git rev-parse --short HEAD)" >> $OUT
scripts/gen-bench-binlog --keep-server >> /tmp/b5-build.log 2>&1
first=$(head -n1 .state/bench/files.txt)
cc -O2 -Wall bench/rpl_fetch_baseline.c $(pkg-config --cflags --libs libmariadb) -lz -o .build/rpl_fetch_baseline
export BR_MYSQL_PASSWORD=reconciler
mapfile -t FILES < <(sed "s|^|$PWD/.state/bench/|" .state/bench/files.txt)
cat "${FILES[@]}" >/dev/null
exec 9>/tmp/swift-build.lock; flock 9
for i in 1 2 3 4 5; do
  /usr/bin/time -f "c %e" -a -o $OUT .build/rpl_fetch_baseline 127.0.0.1 23308 reconciler "$first" $((4200100 + i)) >/dev/null
  if (( i % 2 )); then order="old new"; else order="new old"; fi
  for b in $order; do
    if [[ $b == old ]]; then
      /usr/bin/time -f "tail-old %e" -a -o $OUT $OLD/binlog-reconciler bench-replication --port 23308 --user reconciler --file "$first" --server-id $((4200200 + i)) --shadow shop.products:id:stock >> $OUT
    else
      /usr/bin/time -f "tail-new %e" -a -o $OUT $NEW/binlog-reconciler-bench replication --port 23308 --user reconciler --file "$first" --server-id $((4200210 + i)) --shadow shop.products:id:stock >> $OUT
    fi
  done
done
for i in 1 2 3 4 5 6 7 8 9; do
  if (( i % 2 )); then order="old new"; else order="new old"; fi
  for b in $order; do
    if [[ $b == old ]]; then BIN=$OLD/binlog-reconciler; else BIN=$NEW/binlog-reconciler; fi
    /usr/bin/time -f "analyze-$b %e %U %S %M" -a -o $OUT $BIN analyze "${FILES[@]}" --table shop.products --key id --value stock > /tmp/an-$b.out 2>/dev/null
  done
done
cmp /tmp/an-old.out /tmp/an-new.out && echo "analyze outputs identical" >> $OUT
for i in 1 2 3; do /usr/bin/time -f "mariadb-binlog %e" -a -o $OUT mariadb-binlog --verbose --base64-output=decode-rows "${FILES[@]}" >/dev/null; done
flock -u 9
scripts/gen-bench-binlog --stop-server >> /tmp/b5-build.log 2>&1
echo done >> $OUT
