/*-------------------------------------------------------------------------
 *
 * comments.h
 *	  Comment positions (1.7): the order article_comments() pages in, and
 *	  the short lock that keeps it exact.  See comments.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_COMMENTS_H
#define DRIVETRIBE_COMMENTS_H

#include "storage/lock.h"

/* the index article_comments() reads; its presence means "1.7 comments" */
#define DT_COMMENTS_POS_INDEX "comments_article_pos_idx"

/*
 * A post_comment in progress: whether this database's comments have
 * positions, and the article's comment order lock while it is held.
 * The live sink (sink_live.c) gets it as its ctx.
 */
typedef struct DtCommentOrder
{
	bool		positioned;		/* comments.pos exists (SQL 1.7 and later) */
	bool		held;			/* the lock below is held */
	LOCKTAG		tag;
} DtCommentOrder;

extern bool dt_comments_positioned(void);
extern void dt_comment_order_begin(int64 article_id, DtCommentOrder *order);
extern void dt_comment_order_end(DtCommentOrder *order);

#endif							/* DRIVETRIBE_COMMENTS_H */
