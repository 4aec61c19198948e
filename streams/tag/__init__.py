"""The tag stage: the canonical, typed entities of an article and of a story."""
