/*-------------------------------------------------------------------------
 *
 * feed.h
 *	  Ranked feeds: a page merges the reader's sources on read (feed.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_FEED_H
#define DRIVETRIBE_FEED_H

#include "drivetribe.h"

/*
 * The largest page a feed call returns.  A page reads at most page_size
 * index rows per source of the reader, so this also bounds the rows a
 * page reads per source.
 */
#define DT_FEED_MAX_PAGE_SIZE 1000

extern int	dt_feed_walk_rows;

#endif							/* DRIVETRIBE_FEED_H */
