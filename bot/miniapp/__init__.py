"""The content calendar Mini App: its web server, its sign-in check and its static page."""
