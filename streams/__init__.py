"""Pure logic of every newswire stage: no faust app, no broker, no I/O.

- :mod:`streams.cleaning` — raw HTML or text to a :class:`~schemas.records.CleanArticle`.
- :mod:`streams.entities` — canonical, typed entities of an article and of a story.
- :mod:`streams.dedup` — exact, near and spun copies against an index of earlier articles.
- :mod:`streams.stories` — online clustering of articles into stories.

The faust agents in :mod:`agents` only read, call these, send, and dead-letter.
"""
