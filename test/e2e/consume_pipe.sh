#!/usr/bin/env bash
# drivetribe-consume's pipe downstream (--pipe, the line protocol) under the
# same kill loop and server crash as the command downstream: consume.sh in
# DT_CONSUME_MODE=pipe (its header says what that tests).
exec env DT_CONSUME_MODE=pipe bash "$(dirname "${BASH_SOURCE[0]}")/consume.sh" "$@"
