-- What start-up fitted (the spam model's fusion, the spam and complaint regressions; see
-- bot/moderation/fits.py), so a restart with the same training data loads it instead of spending
-- seconds of CPU fitting it again. `digest` is a hash of everything a fit was made from (samples,
-- lessons, hyper-parameters, embedding model, fitting code): changed data finds nothing and is
-- fitted once. The newest few rows of each kind are kept (storage/fits.py), older ones deleted.
CREATE TABLE fit_cache (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,            -- spam:fusion | spam:regression | complaint:regression
    digest  TEXT NOT NULL,
    data    BLOB NOT NULL,            -- numpy .npz (no pickles)
    UNIQUE (kind, digest)
);
