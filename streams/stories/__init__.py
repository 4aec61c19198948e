"""The story stage: online clustering of articles into stories, and the stories kept."""
