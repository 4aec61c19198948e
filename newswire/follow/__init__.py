"""``newswire follow``: feeds, sitemaps and pages fetched politely and published."""
