"""The command-line surface (lessonwatch-service): thin commands that call the subjects."""
