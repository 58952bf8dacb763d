#!/usr/bin/env bash
# The stream is UTF-8 JSON in every database encoding (issue 18, item 6).
# 1.6 wrote a WIN1252 or EUC_JP database's bytes as they are ("caf\xe9"):
# a stock JSON parser refused the line, send-notifications exited non-zero,
# and drivetribe-consume retried that batch for ever.
#
# For a WIN1252 and an EUC_JP database (and a UTF8 one, the baseline): events
# whose names, titles and bodies hold characters above ASCII (and quotes, a
# backslash, a newline, a tab), read
#   1. with pg_logical_slot_peek_changes() through psql, client encoding
#      UTF8 and then the database's own, and with
#      pg_logical_slot_peek_binary_changes() (bytea: the plugin's bytes);
#   2. with pg_recvlogical into a file;
#   3. with drivetribe-consume into examples/notifications/send-notifications.
# Every line must parse with perl's core JSON::PP as strict UTF-8, and the
# decoded strings must be the expected Unicode ("René", "café crème",
# "山田太郎", ...), with no U+FFFD but for the one byte WIN1252 does not
# define.  The notifications must name them too.
# Needs PGHOST/PGPORT/PGUSER of a running server (wal_level = logical,
# drivetribe allowed in output_plugin_libraries) with drivetribe installed.
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
work=$(mktemp -d)
chmod 755 "$work"
dbs=()
cleanup() {
  local d
  for d in "${dbs[@]}"; do
    psql -X -q -d "$d" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()" >/dev/null 2>&1 || true
    dropdb --if-exists "$d" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "stream_encodings: FAILED: $*"; exit 1; }
step() { echo "stream_encodings: $*"; }
sender=$root/examples/notifications/send-notifications

# check.pl FILE EXPECTED...: every line of FILE a JSON object (strict
# UTF-8); the strings of its event objects (recursively) include every
# EXPECTED (UTF-8 arguments), and none holds U+FFFD; prints the number of
# event objects
cat >"$work/check.pl" <<'PERL'
use strict;
use warnings;
use Encode qw(decode);
use JSON::PP;
my ($file, @expected) = @ARGV;
@expected = map { decode('UTF-8', $_, Encode::FB_CROAK) } @expected;
my $json = JSON::PP->new->utf8;
my (%seen, $events);
open(my $fh, '<:raw', $file) or die "$file: $!\n";
while (my $line = <$fh>) {
    chomp $line;
    next if $line eq '';
    my $o = eval { $json->decode($line) };
    die "line $.: not UTF-8 JSON ($@): $line\n" unless ref $o eq 'HASH';
    next unless defined $o->{seq};
    $events++;
    my @todo = ($o);
    while (@todo) {
        my $v = shift @todo;
        if (ref $v eq 'HASH') { push @todo, values %$v }
        elsif (ref $v eq 'ARRAY') { push @todo, @$v }
        elsif (defined $v && !ref $v) {
            die "line $.: U+FFFD in " . JSON::PP->new->ascii->encode([$v]) . "\n"
                if $v =~ /\x{FFFD}/ && $v ne "a\x{FFFD}b";
            $seen{$v} = 1;
        }
    }
}
my @missing = grep { !$seen{$_} } @expected;
die "missing (as JSON): " . join(' ', map { JSON::PP->new->ascii->encode([$_]) } @missing) . "\n" if @missing;
print(($events // 0) . "\n");
PERL

for enc in WIN1252 EUC_JP UTF8; do
  db=dt_e2e_enc_$(echo "$enc" | tr 'A-Z' 'a-z')
  slot=$db
  dbs+=("$db")
  # decoding reads flushed WAL only: every commit flushes (the test
  # cluster runs with synchronous_commit off)
  q() { PGOPTIONS='-c synchronous_commit=on' PGCLIENTENCODING=UTF8 psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  createdb -E "$enc" --locale=C -T template0 "$db"
  [ "$(q -c 'SELECT getdatabaseencoding()')" = "$enc" ] || fail "$db is not $enc"
  q -c "CREATE EXTENSION drivetribe" >/dev/null
  q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
    fail "could not create a drivetribe slot in $db"
  # this file and the client are UTF-8: the server converts the literals to
  # the database's encoding.  WIN1252 has no Japanese, EUC_JP no € or ½:
  # each database gets characters it can hold
  if [ "$enc" = WIN1252 ]; then
    third='Ölçü Žák €'; more=' ‰'; tail=' ½'
  else
    third='山田太郎'; more=' 日本語'; tail=' 日本'
  fi
  expected=('René' 'café crème' "$third" 'Tribu Señor' 'Crème brûlée “quoted” …'
            "Titel \"zitiert\" \\ mit ñ$more" $'Kommentar\nzweite Zeile\tTab'"$tail")
  q -v third="$third" -v title="${expected[5]}" -v body="${expected[6]}" >/dev/null <<'SQL'
SELECT drivetribe.register_user(1, 'René');
SELECT drivetribe.register_user(2, 'café crème');
SELECT drivetribe.register_user(3, :'third');
SELECT drivetribe.create_tribe(10, 2, 'Tribu Señor');
SELECT drivetribe.post_article(100, 2, 10, 'Crème brûlée “quoted” …');
SELECT drivetribe.bump(100, 1);
SELECT drivetribe.edit_article(100, :'title');
SELECT drivetribe.post_comment(1000, 100, 3, :'body');
SELECT drivetribe.follow_user(1, 2);
SELECT drivetribe.join_tribe(1, 10);
SQL
  if [ "$enc" = WIN1252 ]; then
    # 0x81 is one of WIN1252's five undefined bytes: a WIN1252 client may
    # store it, and it has no Unicode equivalent: the stream says U+FFFD
    # (an error would stop the slot for good)
    printf "SELECT drivetribe.register_user(4, 'a\x81b');\n" |
      PGOPTIONS='-c synchronous_commit=on' PGCLIENTENCODING=WIN1252 psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" >/dev/null
    expected+=($'a\xef\xbf\xbdb')
  fi
  end=$(q -c "SELECT drivetribe.heartbeat()")
  check() {  # LABEL FILE
    local out
    out=$(perl "$work/check.pl" "$2" "${expected[@]}" 2>&1) || fail "$enc, $1: $out"
    [ "$out" -ge 10 ] || fail "$enc, $1: only $out event objects"
    step "$enc, $1: $out events, every line UTF-8 JSON with the expected strings"
  }

  # 1. SQL: text in the client's encoding (UTF8, then the database's own),
  # and the plugin's own bytes
  q -c "SELECT data FROM pg_logical_slot_peek_changes('$slot', NULL, NULL)" >"$work/$enc.sql_utf8"
  check "pg_logical_slot_peek_changes (client UTF8)" "$work/$enc.sql_utf8"
  PGCLIENTENCODING=$enc psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" \
    -c "SELECT data FROM pg_logical_slot_peek_changes('$slot', NULL, NULL)" >"$work/$enc.sql_own"
  check "pg_logical_slot_peek_changes (client $enc)" "$work/$enc.sql_own"
  q -c "SELECT encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('$slot', NULL, NULL)" |
    perl -ne 'chomp; print pack("H*", $_), "\n"' >"$work/$enc.binary"
  check "pg_logical_slot_peek_binary_changes" "$work/$enc.binary"

  # 2. pg_recvlogical (reads and confirms up to the heartbeat)
  timeout 60 pg_recvlogical -d "$db" --slot "$slot" --start --endpos "$end" --no-loop -f "$work/$enc.recv" \
    2>"$work/$enc.recv.err" || { cat "$work/$enc.recv.err"; fail "$enc: pg_recvlogical did not reach the heartbeat"; }
  check "pg_recvlogical" "$work/$enc.recv"
  # the raw bytes outside UTF8: ASCII only (\u escapes), so valid in every encoding
  if [ "$enc" != UTF8 ] && ! perl -ne 'exit 1 if /[\x80-\xff]/' "$work/$enc.recv"; then
    fail "$enc: pg_recvlogical's output has bytes above ASCII"
  fi

  # 3. drivetribe-consume into the shipped send-notifications (on a slot
  # of its own): René bumps, comments, follows and joins; user 2, "café
  # crème", is told
  q -c "SELECT 'init' FROM pg_create_logical_replication_slot('${slot}_c', 'drivetribe')" >/dev/null
  q >/dev/null <<'SQL'
SELECT drivetribe.unbump(100, 1);
SELECT drivetribe.bump(100, 1);
SELECT drivetribe.post_comment(1001, 100, 1, 'Très bien, René');
SELECT drivetribe.unfollow_user(1, 2);
SELECT drivetribe.follow_user(1, 2);
SELECT drivetribe.leave_tribe(1, 10);
SELECT drivetribe.join_tribe(1, 10);
SQL
  end=$(q -c "SELECT drivetribe.heartbeat()")
  if ! timeout 60 drivetribe-consume -d "dbname=$db" -S "${slot}_c" -s "$work/$enc.state" --endpos "$end" \
         --max-tries 2 --retry-max 1 \
         --kinds article_bumped,comment_posted,user_followed,tribe_joined \
         -c "perl '$sender' '$work/$enc.outbox'" >"$work/$enc.printed" 2>"$work/$enc.consume.log"; then
    cat "$work/$enc.consume.log"
    fail "$enc: drivetribe-consume with send-notifications did not reach the heartbeat"
  fi
  q -c "SELECT pg_drop_replication_slot('${slot}_c')" >/dev/null
  for text in 'René bumped your article "Titel' 'René commented on "Titel' 'René follows you now' \
              'René joined your tribe Tribu Señor'; do
    grep -qF "$text" "$work/$enc.printed" || fail "$enc: no notification \"$text\": $(cat "$work/$enc.printed")"
  done
  n=$(cat "$work/$enc.outbox"/*.json | perl -MJSON::PP -ne '
        my $o = JSON::PP->new->utf8->decode($_); $n++ if $o->{text} =~ /^Ren\x{e9} /; END { print $n // 0 }')
  [ "$n" = 4 ] || fail "$enc: $n notification files say René (4 expected)"
  step "$enc: send-notifications wrote 4 notifications naming René and Tribu Señor"
done
step "the stream is UTF-8 JSON in WIN1252, EUC_JP and UTF8 databases, through SQL, pg_recvlogical and drivetribe-consume"
