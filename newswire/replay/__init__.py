"""``newswire replay``: files, archives and standard input published to the raw topic."""
