"""FAQ: deciding what is a question, matching it to an entry offline, choosing the language."""
