# shellcheck shell=bash
# drivetribe e2e: a generated log of about EVENTS events (test/bench/gen_log.sql,
# its activity in two parallel halves), then rebuild() so the API works.
# Source it after defining q, fail, step, now, secs, $root, $db and $work;
#   dt_gen_log EVENTS
# fails unless the log has >= 1,000,000 events, and sets log_events, nusers,
# narticles, ncomments (the largest ids), gen_s and rebuild_s (seconds).
dt_gen_log() {
  local events=$1 t
  gen() { psql -X -q -v ON_ERROR_STOP=1 -v step="$1" "${@:2}" -f "$root/test/bench/gen_log.sql" "$db" >>"$work/gen.out" 2>&1; }
  t=$(now)
  gen setup -v events="$events" || { tail -20 "$work/gen.out"; fail "gen_log.sql setup failed"; }
  gen activity -v part=0 -v parts=2 & local p0=$!
  gen activity -v part=1 -v parts=2 || { tail -20 "$work/gen.out"; fail "gen_log.sql activity (part 1) failed"; }
  wait "$p0" || { tail -20 "$work/gen.out"; fail "gen_log.sql activity (part 0) failed"; }
  gen finish || { tail -20 "$work/gen.out"; fail "gen_log.sql finish failed"; }
  gen_s=$(secs "$t" "$(now)")
  read -r log_events nusers narticles ncomments <<<"$(q -F ' ' -c "SELECT count(*),
         max(user_id) FILTER (WHERE kind = 'user_registered'),
         max(article_id) FILTER (WHERE kind = 'article_posted'),
         max(comment_id) FILTER (WHERE kind = 'comment_posted') FROM drivetribe.events")"
  [ "$log_events" -ge 1000000 ] || fail "gen_log.sql wrote $log_events events, fewer than 1,000,000"
  t=$(now)
  q -c "SET client_min_messages = warning" -c "SELECT drivetribe.rebuild()" >/dev/null || fail "rebuild() failed"
  rebuild_s=$(secs "$t" "$(now)")
  step "log: $log_events events ($nusers users, $narticles articles, comments up to $ncomments): gen_log.sql ${gen_s} s, rebuild() ${rebuild_s} s"
}
