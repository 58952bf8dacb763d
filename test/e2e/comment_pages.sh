#!/usr/bin/env bash
# Comment pages under real concurrency (issue 18 item 7): 6 writers post
# comments on one hot article, each in a transaction that sleeps a little
# before and after the call (so transactions start, append and commit in
# every order) and one in ten rolls back, while a reader pages the article
# forward with after_comment_id, one page per transaction (READ COMMITTED),
# until the writers are done and a page after that comes back empty.  Passes when the reader saw every
# committed comment exactly once, in log order, and no rolled-back one
# (it also reports the slowest post_comment call; the isolation spec
# comment_pages shows that no call waits).  DT_COMMENT_PAGES_VERSION=1.6
# runs the same against
# 1.6's SQL (it fails: late comments are skipped).
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed.
set -euo pipefail
PATH=/usr/lib/postgresql/15/bin:$PATH
db=dt_e2e_comment_pages
seconds=${DT_COMMENT_PAGES_SECONDS:-6}
version=${DT_COMMENT_PAGES_VERSION:-}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT

fail() { echo "comment_pages: FAILED: $*"; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
q >/dev/null <<SQL
CREATE EXTENSION drivetribe ${version:+VERSION '$version'};
SELECT drivetribe.register_user(u, 'user ' || u) FROM generate_series(1, 7) u;
SELECT drivetribe.create_tribe(1, 1, 'tribe');
SELECT drivetribe.post_article(1, 1, 1, 'the hot article');
CREATE TABLE public.seen (ord bigserial, comment_id bigint NOT NULL);
CREATE TABLE public.page_cursor (after bigint, writers_done boolean NOT NULL);
INSERT INTO public.page_cursor VALUES (NULL, false);
-- the reader: one page per transaction until a page read after every
-- writer ended comes back empty (the flag is read before the page, so its
-- snapshot sees every writer's end; a page stopped at an open writer's
-- comment is empty too, so a clock alone is not enough:
-- under load a writer's last transaction outlives it)
CREATE PROCEDURE public.read_pages(give_up timestamptz)
LANGUAGE plpgsql AS \$\$
DECLARE
  c bigint;
  r record;
  n int;
  done boolean;
BEGIN
  LOOP
    SELECT after, writers_done INTO c, done FROM public.page_cursor;
    n := 0;
    FOR r IN SELECT * FROM drivetribe.article_comments(1, 7, c) LOOP
      INSERT INTO public.seen (comment_id) VALUES (r.comment_id);
      c := r.comment_id;
      n := n + 1;
    END LOOP;
    UPDATE public.page_cursor SET after = c;
    COMMIT;
    EXIT WHEN done AND n = 0;
    IF pg_catalog.clock_timestamp() > give_up THEN
      RAISE EXCEPTION 'the writers did not end by %', give_up;
    END IF;
    IF n = 0 THEN
      PERFORM pg_catalog.pg_sleep(0.05);
    END IF;
  END LOOP;
END
\$\$;
SQL

give_up=$(q -c "SELECT clock_timestamp() + interval '$((seconds + 300)) s'")
# writer W posts ids W*100000 + i; the ones it committed go to its file
writer() {
  local w=$1 i=0 id out
  : >"$work/committed.$w"
  # until the deadline, and at least 8 calls (a loaded machine is slow)
  while [ "$(date +%s%N)" -lt "$2" ] || [ "$i" -lt 8 ]; do
    i=$((i + 1)); id=$((w * 100000 + i))
    if [ $((RANDOM % 10)) = 0 ]; then end=ROLLBACK; else end=COMMIT; fi
    out=$(q <<SQL
BEGIN;
SELECT pg_sleep(random() * 0.03);
SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
SELECT drivetribe.post_comment($id, 1, $w, 'comment $id') IS NOT NULL;
SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
SELECT pg_sleep(random() * 0.05);
$end;
SQL
) || { echo "writer $w: call $id failed"; return 1; }
    set -- "$1" "$2" $out
    # the post's own time, milliseconds
    echo "$(( $5 - $3 ))" >>"$work/post_ms.$w"
    if [ "$end" = COMMIT ]; then echo "$id" >>"$work/committed.$w"; fi
  done
  return 0
}
end_ns=$(( $(date +%s%N) + seconds * 1000000000 ))
q -c "CALL public.read_pages('$give_up')" >"$work/reader.log" 2>&1 &
reader=$!; pids+=("$reader")
for w in 2 3 4 5 6 7; do writer "$w" "$end_ns" & pids+=("$!"); done
for p in "${pids[@]:1}"; do wait "$p" || fail "a writer failed"; done
q -c "UPDATE public.page_cursor SET writers_done = true"
wait "$reader" || { cat "$work/reader.log"; fail "the reader failed"; }
pids=()

cat "$work"/committed.* | sort -n >"$work/committed"
committed=$(wc -l <"$work/committed")
[ "$committed" -gt 30 ] || fail "only $committed comments committed: too little load to tell"
q -c "SELECT comment_id FROM public.seen ORDER BY comment_id" >"$work/seen"
dups=$(q -c "SELECT count(*) FROM (SELECT comment_id FROM public.seen GROUP BY 1 HAVING count(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups comments came on more than one page"
if ! diff -q "$work/committed" "$work/seen" >/dev/null; then
  echo "committed but never on a page: $(comm -23 "$work/committed" "$work/seen" | wc -l)" \
       "(e.g. $(comm -23 "$work/committed" "$work/seen" | head -n 5 | paste -sd ' '))"
  echo "on a page but not committed: $(comm -13 "$work/committed" "$work/seen" | wc -l)"
  fail "the pages are not exactly the committed comments"
fi
# in log order
bad=$(q -c "SELECT count(*) FROM (SELECT e.seq < lag(e.seq) OVER (ORDER BY s.ord) AS back
                                     FROM public.seen s JOIN drivetribe.events e
                                       ON e.kind = 'comment_posted' AND e.comment_id = s.comment_id) x
             WHERE back")
[ "$bad" = 0 ] || fail "$bad comments came out of log order"
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() is not empty"
slowest=$(cat "$work"/post_ms.* | sort -n | tail -n 1)
[ "$slowest" -lt 5000 ] || fail "a post_comment took $slowest ms"
echo "comment_pages: ok: $committed comments committed by 6 writers in ${seconds} s, each on a page once, in log order; slowest post ${slowest} ms"
