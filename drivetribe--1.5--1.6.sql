/* drivetribe--1.5--1.6.sql: a newcomer's first hour (issue 13) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.6'" to load this file. \quit

------------------------------------------------------------------------
-- psql reads like a manual: a comment on every function, table, view and
-- column (\df+, \d+).  Internal helpers say so first: "internal (...)".
------------------------------------------------------------------------

-- the write API (SPEC "Write API"): each returns the seq of the event it
-- appended, or NULL when the call changes nothing; event_id makes a retry
-- return the first call's result
COMMENT ON FUNCTION drivetribe.register_user(bigint, text, uuid) IS
  'write API: register a user (user_id, display name); the seq of user_registered; 23505 if the id is taken';
COMMENT ON FUNCTION drivetribe.rename_user(bigint, text, uuid) IS
  'write API: rename a user; the seq of user_renamed, NULL if the name is the same; 23503 if the user does not exist';
COMMENT ON FUNCTION drivetribe.create_tribe(bigint, bigint, text, uuid) IS
  'write API: create a tribe (tribe_id, owner user_id, name); the owner joins it; the seq of tribe_created; 23505 if the id is taken, 23503 if the owner does not exist';
COMMENT ON FUNCTION drivetribe.rename_tribe(bigint, text, uuid) IS
  'write API: rename a tribe; the seq of tribe_renamed, NULL if the name is the same';
COMMENT ON FUNCTION drivetribe.join_tribe(bigint, bigint, uuid) IS
  'write API: user_id joins tribe_id; the seq of tribe_joined, NULL if already a member';
COMMENT ON FUNCTION drivetribe.leave_tribe(bigint, bigint, uuid) IS
  'write API: user_id leaves tribe_id; the seq of tribe_left, NULL if not a member';
COMMENT ON FUNCTION drivetribe.follow_user(bigint, bigint, uuid) IS
  'write API: follower_id follows followee_id; the seq of user_followed, NULL if already following; 22023 for oneself';
COMMENT ON FUNCTION drivetribe.unfollow_user(bigint, bigint, uuid) IS
  'write API: follower_id stops following followee_id; the seq of user_unfollowed, NULL if not following';
COMMENT ON FUNCTION drivetribe.post_article(bigint, bigint, bigint, text, uuid) IS
  'write API: post article_id by author_id into tribe_id with a title; the seq of article_posted; 23505 if the id is taken (the author need not be a member)';
COMMENT ON FUNCTION drivetribe.edit_article(bigint, text, uuid) IS
  'write API: retitle an article; the seq of article_edited, NULL if the title is the same; 55000 if deleted';
COMMENT ON FUNCTION drivetribe.delete_article(bigint, uuid) IS
  'write API: delete an article (its card leaves every feed and count); the seq of article_deleted, NULL if already deleted';
COMMENT ON FUNCTION drivetribe.view_article(bigint, bigint, uuid) IS
  'write API: count a view of an article, by user_id or anonymous (NULL); the seq of article_viewed; 55000 if deleted';
COMMENT ON FUNCTION drivetribe.post_comment(bigint, bigint, bigint, text, uuid) IS
  'write API: post comment_id on article_id by author_id with a body; the seq of comment_posted (notifies the article''s author); 55000 on a deleted article';
COMMENT ON FUNCTION drivetribe.delete_comment(bigint, uuid) IS
  'write API: delete a comment; the seq of comment_deleted, NULL if already deleted';
COMMENT ON FUNCTION drivetribe.bump(bigint, bigint, uuid) IS
  'write API: user_id bumps (likes) article_id; the seq of article_bumped, NULL if already bumped (notifies the author; an author may bump their own article); 55000 on a deleted article';
COMMENT ON FUNCTION drivetribe.unbump(bigint, bigint, uuid) IS
  'write API: user_id takes back a bump; the seq of article_unbumped, NULL if not bumped; 55000 on a deleted article';

-- the read API
COMMENT ON FUNCTION drivetribe.article(bigint) IS
  'read API: the card of one live article (article_view''s row): names, counts, score; no row if unknown or deleted';
COMMENT ON FUNCTION drivetribe.article_comments(bigint, integer, bigint) IS
  'read API: a page of an article''s live comments, oldest first, after after_comment_id (keyset paging), with author names';
COMMENT ON FUNCTION drivetribe.has_bumped(bigint, bigint) IS
  'read API: whether user_id currently bumps article_id';

-- maintenance and roles
COMMENT ON FUNCTION drivetribe.score(bigint, bigint, bigint, timestamptz) IS
  'SPEC''s rank score of an article from its bumps, comments, views and posting time (stored in articles.score)';
COMMENT ON FUNCTION drivetribe.grant_api(regrole, boolean) IS
  'internal (grant_writer, grant_reader): grant a role the read API, and the write API too when writer';
COMMENT ON FUNCTION drivetribe.api_functions(boolean) IS
  'internal (grants): the functions of the read API, and of the write API too when writer';
COMMENT ON FUNCTION drivetribe.require_pg_cron() IS
  'internal (schedule_maintenance): 55000 with a hint when pg_cron is not installed in this database';
COMMENT ON FUNCTION drivetribe.maintenance_jobs() IS
  'internal (schedule_maintenance, status): the maintenance jobs, their schedules and commands';
COMMENT ON FUNCTION drivetribe.events_are_immutable() IS
  'internal (trigger): refuses UPDATE, DELETE and TRUNCATE of the log with 55000';

-- tables
COMMENT ON TABLE drivetribe.users IS
  'projection: one row per registered user with their counters (maintained by the write API, rebuilt from the log)';
COMMENT ON COLUMN drivetribe.users.user_id IS 'the id the client chose at register_user()';
COMMENT ON COLUMN drivetribe.users.name IS 'the display name (the last rename)';
COMMENT ON COLUMN drivetribe.users.registered_at IS 'when user_registered was appended';
COMMENT ON COLUMN drivetribe.users.articles IS 'live articles they posted (plus pending stripe deltas: read user_stats)';
COMMENT ON COLUMN drivetribe.users.comments IS 'live comments they posted (plus pending stripe deltas: read user_stats)';
COMMENT ON COLUMN drivetribe.users.bumps_given IS 'bumps they currently give (plus pending stripe deltas)';
COMMENT ON COLUMN drivetribe.users.bumps_received IS 'bumps their live articles currently have (plus pending stripe deltas)';
COMMENT ON COLUMN drivetribe.users.followers IS 'users following them (plus pending stripe deltas)';
COMMENT ON COLUMN drivetribe.users.following IS 'users they follow (plus pending stripe deltas)';
COMMENT ON COLUMN drivetribe.users.tribes IS 'tribes they are a member of (plus pending stripe deltas)';

COMMENT ON TABLE drivetribe.tribes IS
  'projection: one row per tribe with its counters';
COMMENT ON COLUMN drivetribe.tribes.tribe_id IS 'the id the client chose at create_tribe()';
COMMENT ON COLUMN drivetribe.tribes.owner_id IS 'the user who created it (always a member)';
COMMENT ON COLUMN drivetribe.tribes.name IS 'the display name (the last rename)';
COMMENT ON COLUMN drivetribe.tribes.created_at IS 'when tribe_created was appended';
COMMENT ON COLUMN drivetribe.tribes.members IS 'members (plus pending stripe deltas: read tribe_stats)';
COMMENT ON COLUMN drivetribe.tribes.articles IS 'live articles posted into it (plus pending stripe deltas: read tribe_stats)';

COMMENT ON TABLE drivetribe.articles IS
  'projection: one row per article, deleted ones kept (deleted = true) so their ids stay taken';
COMMENT ON COLUMN drivetribe.articles.article_id IS 'the id the client chose at post_article()';
COMMENT ON COLUMN drivetribe.articles.tribe_id IS 'the tribe it was posted into';
COMMENT ON COLUMN drivetribe.articles.author_id IS 'the user who posted it';
COMMENT ON COLUMN drivetribe.articles.title IS 'the title (the last edit)';
COMMENT ON COLUMN drivetribe.articles.posted_at IS 'when article_posted was appended (the score''s time)';
COMMENT ON COLUMN drivetribe.articles.deleted IS 'true once deleted: out of every read, count and feed';
COMMENT ON COLUMN drivetribe.articles.views IS 'views (plus pending stripe deltas: read article_view)';
COMMENT ON COLUMN drivetribe.articles.comments IS 'live comments (plus pending stripe deltas: read article_view)';
COMMENT ON COLUMN drivetribe.articles.bumps IS 'current bumps (plus pending stripe deltas: read article_view)';
COMMENT ON COLUMN drivetribe.articles.score IS 'the stored rank score: exact, or at most about drivetribe.fold_interval behind while stripes are pending';

COMMENT ON TABLE drivetribe.comments IS
  'projection: one row per comment, deleted ones kept (deleted = true)';
COMMENT ON COLUMN drivetribe.comments.comment_id IS 'the id the client chose at post_comment()';
COMMENT ON COLUMN drivetribe.comments.article_id IS 'the article it is on';
COMMENT ON COLUMN drivetribe.comments.author_id IS 'the user who posted it';
COMMENT ON COLUMN drivetribe.comments.body IS 'the text';
COMMENT ON COLUMN drivetribe.comments.posted_at IS 'when comment_posted was appended';
COMMENT ON COLUMN drivetribe.comments.deleted IS 'true once deleted: out of article_comments() and the counts';

COMMENT ON TABLE drivetribe.memberships IS 'projection: who is in which tribe (one row per member)';
COMMENT ON COLUMN drivetribe.memberships.tribe_id IS 'the tribe';
COMMENT ON COLUMN drivetribe.memberships.user_id IS 'the member';
COMMENT ON TABLE drivetribe.follows IS 'projection: who follows whom (one row per follow)';
COMMENT ON COLUMN drivetribe.follows.follower_id IS 'the user who follows';
COMMENT ON COLUMN drivetribe.follows.followee_id IS 'the user followed';
COMMENT ON TABLE drivetribe.bumps IS 'projection: current bumps (one row per user and article)';
COMMENT ON COLUMN drivetribe.bumps.article_id IS 'the article bumped';
COMMENT ON COLUMN drivetribe.bumps.user_id IS 'the user who bumps it';

COMMENT ON COLUMN drivetribe.events.seq IS 'the append order (given at insert, not at commit: use read_log() or the stream to follow the log)';
COMMENT ON COLUMN drivetribe.events.event_id IS 'the client''s idempotency key of the call, if it gave one (unique)';
COMMENT ON COLUMN drivetribe.events.kind IS 'one of the 16 event kinds (SPEC "Events")';
COMMENT ON COLUMN drivetribe.events.occurred_at IS 'when it was appended (the transaction''s now())';
COMMENT ON COLUMN drivetribe.events.user_id IS 'the acting user (NULL for an anonymous view)';
COMMENT ON COLUMN drivetribe.events.tribe_id IS 'the tribe involved, if any';
COMMENT ON COLUMN drivetribe.events.article_id IS 'the article involved, if any';
COMMENT ON COLUMN drivetribe.events.comment_id IS 'the comment involved, if any';
COMMENT ON COLUMN drivetribe.events.target_id IS 'the other user involved: the followee, the tribe''s owner, or the article''s author';
COMMENT ON COLUMN drivetribe.events.recipient_id IS 'who gets notified, for article_bumped, comment_posted, user_followed and tribe_joined';
COMMENT ON COLUMN drivetribe.events.body IS 'the name, title or comment text the event carries, if any';
COMMENT ON COLUMN drivetribe.events.context IS 'display names as of the event (user_name, tribe_name, title, target_name), for consumers';

COMMENT ON COLUMN drivetribe.article_stripes.article_id IS 'the article whose counters the deltas belong to';
COMMENT ON COLUMN drivetribe.article_stripes.stripe IS 'the backend that wrote them';
COMMENT ON COLUMN drivetribe.article_stripes.views IS 'views not yet folded into articles.views';
COMMENT ON COLUMN drivetribe.article_stripes.comments IS 'comment count change not yet folded';
COMMENT ON COLUMN drivetribe.article_stripes.bumps IS 'bump count change not yet folded';
COMMENT ON COLUMN drivetribe.user_stripes.user_id IS 'the user whose counters the deltas belong to';
COMMENT ON COLUMN drivetribe.user_stripes.stripe IS 'the backend that wrote them';
COMMENT ON COLUMN drivetribe.user_stripes.articles IS 'change of users.articles not yet folded';
COMMENT ON COLUMN drivetribe.user_stripes.comments IS 'change of users.comments not yet folded';
COMMENT ON COLUMN drivetribe.user_stripes.bumps_given IS 'change of users.bumps_given not yet folded';
COMMENT ON COLUMN drivetribe.user_stripes.bumps_received IS 'change of users.bumps_received not yet folded';
COMMENT ON COLUMN drivetribe.user_stripes.followers IS 'change of users.followers not yet folded';
COMMENT ON COLUMN drivetribe.user_stripes.following IS 'change of users.following not yet folded';
COMMENT ON COLUMN drivetribe.user_stripes.tribes IS 'change of users.tribes not yet folded';
COMMENT ON COLUMN drivetribe.tribe_stripes.tribe_id IS 'the tribe whose counters the deltas belong to';
COMMENT ON COLUMN drivetribe.tribe_stripes.stripe IS 'the backend that wrote them';
COMMENT ON COLUMN drivetribe.tribe_stripes.members IS 'change of tribes.members not yet folded';
COMMENT ON COLUMN drivetribe.tribe_stripes.articles IS 'change of tribes.articles not yet folded';

COMMENT ON COLUMN drivetribe.noop_calls.event_id IS 'the idempotency key of a call that changed nothing';
COMMENT ON COLUMN drivetribe.noop_calls.kind IS 'the kind the call would have appended';
COMMENT ON COLUMN drivetribe.noop_calls.user_id IS 'the call''s user argument';
COMMENT ON COLUMN drivetribe.noop_calls.tribe_id IS 'the call''s tribe argument';
COMMENT ON COLUMN drivetribe.noop_calls.article_id IS 'the call''s article argument';
COMMENT ON COLUMN drivetribe.noop_calls.comment_id IS 'the call''s comment argument';
COMMENT ON COLUMN drivetribe.noop_calls.target_id IS 'the call''s other user argument';
COMMENT ON COLUMN drivetribe.noop_calls.body IS 'the call''s text argument';
COMMENT ON COLUMN drivetribe.noop_calls.called_at IS 'when; pruned after drivetribe.idempotency_retention';

COMMENT ON COLUMN drivetribe.verify_runs.started_at IS 'when verify() started';
COMMENT ON COLUMN drivetribe.verify_runs.finished_at IS 'when it finished';
COMMENT ON COLUMN drivetribe.verify_runs.differences IS 'the rows it returned (0: the projections match the log)';
COMMENT ON COLUMN drivetribe.verify_runs.events IS 'the events it replayed';
COMMENT ON COLUMN drivetribe.verify_runs.run_by IS 'the session user who ran it';

-- views
COMMENT ON VIEW drivetribe.user_stats IS
  'read API: one row per user with exact counters (row plus pending stripe deltas)';
COMMENT ON COLUMN drivetribe.user_stats.user_id IS 'the user';
COMMENT ON COLUMN drivetribe.user_stats.name IS 'the display name';
COMMENT ON COLUMN drivetribe.user_stats.articles IS 'live articles they posted';
COMMENT ON COLUMN drivetribe.user_stats.comments IS 'live comments they posted';
COMMENT ON COLUMN drivetribe.user_stats.bumps_given IS 'bumps they give';
COMMENT ON COLUMN drivetribe.user_stats.bumps_received IS 'bumps on their live articles';
COMMENT ON COLUMN drivetribe.user_stats.followers IS 'users following them';
COMMENT ON COLUMN drivetribe.user_stats.following IS 'users they follow';
COMMENT ON COLUMN drivetribe.user_stats.tribes IS 'tribes they are in';
COMMENT ON VIEW drivetribe.tribe_stats IS
  'read API: one row per tribe with exact counters (row plus pending stripe deltas)';
COMMENT ON COLUMN drivetribe.tribe_stats.tribe_id IS 'the tribe';
COMMENT ON COLUMN drivetribe.tribe_stats.name IS 'the display name';
COMMENT ON COLUMN drivetribe.tribe_stats.owner_id IS 'the user who created it';
COMMENT ON COLUMN drivetribe.tribe_stats.members IS 'members';
COMMENT ON COLUMN drivetribe.tribe_stats.articles IS 'live articles in it';
COMMENT ON COLUMN drivetribe.article_view.article_id IS 'the article';
COMMENT ON COLUMN drivetribe.article_view.tribe_id IS 'its tribe';
COMMENT ON COLUMN drivetribe.article_view.tribe_name IS 'its tribe''s name now';
COMMENT ON COLUMN drivetribe.article_view.author_id IS 'its author';
COMMENT ON COLUMN drivetribe.article_view.author_name IS 'its author''s name now';
COMMENT ON COLUMN drivetribe.article_view.title IS 'its title now';
COMMENT ON COLUMN drivetribe.article_view.posted_at IS 'when it was posted';
COMMENT ON COLUMN drivetribe.article_view.views IS 'views, exact';
COMMENT ON COLUMN drivetribe.article_view.comments IS 'live comments, exact';
COMMENT ON COLUMN drivetribe.article_view.bumps IS 'current bumps, exact';
COMMENT ON COLUMN drivetribe.article_view.score IS 'the stored rank score (what feeds order by): at most about drivetribe.fold_interval behind the counts';

COMMENT ON COLUMN drivetribe.stream_slots.slot_name IS 'the replication slot';
COMMENT ON COLUMN drivetribe.stream_slots.database IS 'its database';
COMMENT ON COLUMN drivetribe.stream_slots.active IS 'whether a consumer is connected';
COMMENT ON COLUMN drivetribe.stream_slots.active_pid IS 'the walsender serving it';
COMMENT ON COLUMN drivetribe.stream_slots.confirmed_flush_lsn IS 'what its consumer confirmed';
COMMENT ON COLUMN drivetribe.stream_slots.lag_bytes IS 'WAL written since that position';
COMMENT ON COLUMN drivetribe.stream_slots.retained_bytes IS 'WAL the slot keeps on disk';
COMMENT ON COLUMN drivetribe.stream_slots.wal_status IS 'reserved, extended, unreserved or lost (pg_replication_slots)';
COMMENT ON COLUMN drivetribe.stream_slots.safe_wal_size IS 'bytes left before max_slot_wal_keep_size invalidates it';
COMMENT ON COLUMN drivetribe.stream_slots.last_reply IS 'when the consumer last replied';
COMMENT ON COLUMN drivetribe.stream_slots.reply_age IS 'how long ago that was';
COMMENT ON COLUMN drivetribe.stream_slots.flush_lag IS 'the walsender''s measure of the consumer''s flush delay';

COMMENT ON COLUMN drivetribe.log_horizon.safe_xid IS 'read_log() returns events of transactions below this id';
COMMENT ON COLUMN drivetribe.log_horizon.next_xid IS 'the next transaction id to be assigned';
COMMENT ON COLUMN drivetribe.log_horizon.held_by_pid IS 'the backend whose transaction holds the horizon back';
COMMENT ON COLUMN drivetribe.log_horizon.held_by_prepared_gid IS 'or the prepared transaction that does';
COMMENT ON COLUMN drivetribe.log_horizon.held_by_database IS 'its database';
COMMENT ON COLUMN drivetribe.log_horizon.held_by_user IS 'its user';
COMMENT ON COLUMN drivetribe.log_horizon.held_by_state IS 'its state (idle in transaction is the usual culprit)';
COMMENT ON COLUMN drivetribe.log_horizon.held_since IS 'when its transaction started';
COMMENT ON COLUMN drivetribe.log_horizon.held_for IS 'how long ago that was';
COMMENT ON COLUMN drivetribe.log_horizon.state_since IS 'when it entered its state';

------------------------------------------------------------------------
-- Roles: what grant_writer()/grant_reader() gave, taken back.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.revoke_api(role regrole, writer boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fn regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  FOR fn IN SELECT * FROM drivetribe.api_functions(writer) LOOP
    IF writer AND fn OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT * FROM drivetribe.api_functions(false))) THEN
      CONTINUE;                 -- revoke_writer keeps the read API
    END IF;
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %s', fn, role);
  END LOOP;
  IF NOT writer THEN
    EXECUTE pg_catalog.format(
      'REVOKE SELECT ON drivetribe.article_view, drivetribe.user_stats, drivetribe.tribe_stats, '
      'drivetribe.log_horizon FROM %s', role);
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe.revoke_api(regrole, boolean) IS
  'internal (revoke_writer, revoke_reader): revoke the write API, or the read API';

CREATE FUNCTION drivetribe.revoke_writer(role regrole)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT drivetribe.revoke_api(role, true) $$;
COMMENT ON FUNCTION drivetribe.revoke_writer(regrole) IS
  'take back the write API from a role (what grant_writer() added to the read API); it keeps the read API: revoke_reader() takes that';

CREATE FUNCTION drivetribe.revoke_reader(role regrole)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT drivetribe.revoke_api(role, true); SELECT drivetribe.revoke_api(role, false) $$;
COMMENT ON FUNCTION drivetribe.revoke_reader(regrole) IS
  'take back every API function and view grant_reader() or grant_writer() gave a role (USAGE on the schema stays: other grants may need it)';

REVOKE ALL ON FUNCTION drivetribe.revoke_api(regrole, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.revoke_writer(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.revoke_reader(regrole) FROM PUBLIC;
