-- PostgreSQL twin of ../0015_faq_lexical_index.sql: the same table; BLOB is BYTEA.
-- The FAQ's lexical index as built (numpy arrays, see bot/faq/matcher.py FaqIndex.to_bytes), so a
-- restart with an unchanged FAQ loads it instead of re-reading every phrasing. `digest` is a hash
-- of everything the index was built from; any change of the FAQ makes it stale and it is rebuilt
-- and stored again. One row per index name (only 'lexical' today).
CREATE TABLE faq_index_cache (
    name    TEXT PRIMARY KEY,
    digest  TEXT NOT NULL,
    data    BYTEA NOT NULL
);
