"""Pure logic of every newswire stage: no faust app, no broker, no I/O.

One package a stage, each with its logic and (for the stateful stages) its orchestration:

- :mod:`streams.clean` — raw HTML or text to a :class:`~schemas.records.CleanArticle`.
- :mod:`streams.tag` — canonical, typed entities of an article and of a story.
- :mod:`streams.dedup` — exact, near and spun copies against an index of earlier articles.
- :mod:`streams.stories` — online clustering of articles into stories.

The helpers at this root (text, errors, revisions, reorder, keyindex) serve several stages.
The faust agents in :mod:`agents` only read, call these, send, and dead-letter.
"""
