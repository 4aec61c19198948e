"""The clean stage: a raw page or text to a :class:`~schemas.records.CleanArticle`."""
