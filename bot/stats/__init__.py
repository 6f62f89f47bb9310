"""Statistics: collection, reports and charts."""
