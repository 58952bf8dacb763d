/*-------------------------------------------------------------------------
 *
 * project.c
 *	  What each kind of event means for the projections.
 *
 * dt_project_event() is the one place that knows, say, that a bump adds
 * one to the article's bumps, the bumper's bumps_given and the author's
 * bumps_received.  The live write path and the replay behind rebuild()
 * and verify() both call it, each with its own sink, so the two cannot
 * drift apart.  It reads nothing but the event: an event carries every
 * id it affects (the author of a bumped article, the bumps a deleted
 * article had), so it can be applied to projections anywhere.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "drivetribe.h"

/*
 * Apply the same counter change to two users in ascending id order, the
 * lock order of the live sink.  When both are the same user (an author
 * bumping their own article) the changes are summed into one call.
 */
static void
two_user_counts(const DtSink *sink, int64 a, const DtUserCounts *da,
				int64 b, const DtUserCounts *db)
{
	if (a == b)
	{
		DtUserCounts sum;

		sum.articles = da->articles + db->articles;
		sum.comments = da->comments + db->comments;
		sum.bumps_given = da->bumps_given + db->bumps_given;
		sum.bumps_received = da->bumps_received + db->bumps_received;
		sum.followers = da->followers + db->followers;
		sum.following = da->following + db->following;
		sum.tribes = da->tribes + db->tribes;
		sink->user_counts(sink->ctx, a, &sum);
	}
	else if (a < b)
	{
		sink->user_counts(sink->ctx, a, da);
		sink->user_counts(sink->ctx, b, db);
	}
	else
	{
		sink->user_counts(sink->ctx, b, db);
		sink->user_counts(sink->ctx, a, da);
	}
}

/*
 * dt_project_event: hand every effect of one accepted event to the sink.
 * Effects on one event's rows come in the global lock order: comments,
 * articles, tribes, then users by ascending id.
 */
void
dt_project_event(const DtEvent *ev, const DtSink *sink)
{
	DtUserCounts u1 = {0};
	DtUserCounts u2 = {0};
	DtTribeCounts t = {0};
	DtArticleCounts a = {0};
	int			sign = 1;

	switch (ev->kind)
	{
		case DT_USER_REGISTERED:
			sink->user_created(sink->ctx, ev->user_id, ev->body, ev->occurred_at);
			break;

		case DT_USER_RENAMED:
			sink->user_renamed(sink->ctx, ev->user_id, ev->body);
			break;

		case DT_TRIBE_CREATED:
			/* the owner becomes the first member */
			sink->tribe_created(sink->ctx, ev->tribe_id, ev->user_id, ev->body,
								ev->occurred_at);
			sink->edge_set(sink->ctx, DT_EDGE_MEMBERSHIP, ev->tribe_id,
						   ev->user_id, true);
			t.members = 1;
			sink->tribe_counts(sink->ctx, ev->tribe_id, &t);
			u1.tribes = 1;
			sink->user_counts(sink->ctx, ev->user_id, &u1);
			break;

		case DT_TRIBE_RENAMED:
			sink->tribe_renamed(sink->ctx, ev->tribe_id, ev->body);
			break;

		case DT_TRIBE_LEFT:
			sign = -1;
			/* FALLTHROUGH */
		case DT_TRIBE_JOINED:
			sink->edge_set(sink->ctx, DT_EDGE_MEMBERSHIP, ev->tribe_id,
						   ev->user_id, sign > 0);
			t.members = sign;
			sink->tribe_counts(sink->ctx, ev->tribe_id, &t);
			u1.tribes = sign;
			sink->user_counts(sink->ctx, ev->user_id, &u1);
			break;

		case DT_USER_UNFOLLOWED:
			sign = -1;
			/* FALLTHROUGH */
		case DT_USER_FOLLOWED:
			sink->edge_set(sink->ctx, DT_EDGE_FOLLOW, ev->user_id,
						   ev->target_id, sign > 0);
			u1.following = sign;
			u2.followers = sign;
			two_user_counts(sink, ev->user_id, &u1, ev->target_id, &u2);
			break;

		case DT_ARTICLE_POSTED:
			sink->article_created(sink->ctx, ev->article_id, ev->tribe_id,
								  ev->user_id, ev->body, ev->occurred_at);
			t.articles = 1;
			sink->tribe_counts(sink->ctx, ev->tribe_id, &t);
			u1.articles = 1;
			sink->user_counts(sink->ctx, ev->user_id, &u1);
			break;

		case DT_ARTICLE_EDITED:
			sink->article_retitled(sink->ctx, ev->article_id, ev->body);
			break;

		case DT_ARTICLE_DELETED:
			/* its bumps stop counting for the author; bumps_given stays */
			sink->article_deleted(sink->ctx, ev->article_id);
			t.articles = -1;
			sink->tribe_counts(sink->ctx, ev->tribe_id, &t);
			u1.articles = -1;
			u1.bumps_received = -ev->bumps;
			sink->user_counts(sink->ctx, ev->user_id, &u1);
			break;

		case DT_ARTICLE_VIEWED:
			a.views = 1;
			sink->article_counts(sink->ctx, ev->article_id, &a);
			break;

		case DT_COMMENT_POSTED:
			/*
			 * its position on the article's pages: the event's seq; a reply
			 * (v2) adds one to its parent's live replies
			 */
			sink->comment_created(sink->ctx, ev->comment_id, ev->article_id,
								  ev->user_id, ev->body, ev->occurred_at,
								  ev->seq, ev->parent_comment_id);
			a.comments = 1;
			sink->article_counts(sink->ctx, ev->article_id, &a);
			u1.comments = 1;
			sink->user_counts(sink->ctx, ev->user_id, &u1);
			break;

		case DT_COMMENT_DELETED:
			/* a reply stays a reply: its parent's live replies drop */
			sink->comment_deleted(sink->ctx, ev->comment_id,
								  ev->parent_comment_id);
			a.comments = -1;
			sink->article_counts(sink->ctx, ev->article_id, &a);
			u1.comments = -1;
			sink->user_counts(sink->ctx, ev->user_id, &u1);
			break;

		case DT_ARTICLE_UNBUMPED:
			sign = -1;
			/* FALLTHROUGH */
		case DT_ARTICLE_BUMPED:
			sink->edge_set(sink->ctx, DT_EDGE_BUMP, ev->article_id, ev->user_id,
						   sign > 0);
			a.bumps = sign;
			sink->article_counts(sink->ctx, ev->article_id, &a);
			u1.bumps_given = sign;
			u2.bumps_received = sign;
			two_user_counts(sink, ev->user_id, &u1, ev->target_id, &u2);
			break;

		case DT_NUM_KINDS:
			elog(ERROR, "drivetribe: invalid event kind %d", (int) ev->kind);
	}
}
