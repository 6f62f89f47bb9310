-- PostgreSQL twin of ../0012_faq_vectors.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- Embedding vectors of FAQ phrasings (kind 'query') and answers (kind 'passage'), so that a
-- restart or an import does not compute them again. Keyed by the model and a hash of the text,
-- not by phrasing id: the same wording in two entries, or re-imported, shares one vector, and a
-- model change simply finds nothing under the new model id and computes once.
CREATE TABLE faq_vectors (
    model      TEXT NOT NULL,
    kind       TEXT NOT NULL,            -- query | passage
    text_hash  TEXT NOT NULL,
    dim        BIGINT NOT NULL,
    vector     BYTEA NOT NULL,            -- float32, little-endian, L2-normalised
    PRIMARY KEY (model, kind, text_hash)
);
