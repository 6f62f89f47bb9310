"""Start-up's fits stored for the next start: reused when nothing changed, fitted again (once)
when anything they were fitted from did, never a crash on a broken row. On both engines."""

from __future__ import annotations

import io
import logging
from collections import OrderedDict

import numpy as np
import pytest

from bot.moderation import fits, semantic_spam, understanding
from bot.moderation.semantic_spam import LogisticModel
from bot.moderation.understanding import SemanticSpamClassifier
from bot.reputation.classifier import ComplaintClassifier
from bot.semantic import EmbeddingService
from storage.database import Database
from storage.fits import KEEP, FitCacheRepository
from tests.test_semantic_spam import _LetterBackend

SPAM = [
    "Заработок на дому пиши в лс",
    "Крипта растёт бери сейчас",
    "Earn 300 dollars a day from home, write me",
    "Free crypto signals, join my channel",
    "Verdien 200 euro per dag vanuit huis",
    "Investeer nu in bitcoin en word rijk",
] * 4
HAM = [
    "Где купить хлеб рядом с домом",
    "Когда собрание жильцов в этом месяце",
    "Does anyone know when the pool opens",
    "The meeting moved to Thursday evening",
    "Weet iemand waar de sleutel van de fietsenstalling is",
    "Morgen wordt het afval opgehaald",
] * 4
COMPLAINTS = ["Three weeks and still no parcel", "The courier broke my lamp again"] * 4
OTHER = ["When does the shop open on Sunday", "Thanks, the lamp looks great"] * 4
PROBES = [
    "Пиши в лс, заработок от 5000",
    "Is the pool open on Sunday",
    "Gratis bitcoin signalen, schrijf me",
    "My parcel never came",
]


class Letters(_LetterBackend):
    """Vectors from letter counts (tests/test_semantic_spam.py's backend), with a model id a
    test may change."""

    def __init__(self, model_id: str = "letters") -> None:
        super().__init__()
        self.model_id = model_id


class Fits:
    """Counts what is fitted: every regression (the folds', the stacker's, the models') and
    every fusion."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.regressions = 0
        self.fusions = 0
        self.monkeypatch = monkeypatch
        fit, fit_fusion = LogisticModel.fit, understanding.fit_fusion

        def counted_fit(model: LogisticModel, *args: object, **kwargs: object) -> None:
            self.regressions += 1
            fit(model, *args, **kwargs)

        def counted_fusion(*args: object, **kwargs: object) -> object:
            self.fusions += 1
            return fit_fusion(*args, **kwargs)

        monkeypatch.setattr(LogisticModel, "fit", counted_fit)
        monkeypatch.setattr(understanding, "fit_fusion", counted_fusion)
        self.new_process()

    def new_process(self) -> None:
        """Forget what this process fitted, as a restart does; the counts start again."""
        self.monkeypatch.setattr(semantic_spam, "_FITTED", OrderedDict())
        self.monkeypatch.setattr(understanding, "_FUSIONS", OrderedDict())
        self.regressions = self.fusions = 0

    @property
    def total(self) -> int:
        return self.regressions + self.fusions


@pytest.fixture
async def db(db_target: str):
    database = Database(db_target)
    await database.open()
    yield database
    await database.close()


async def start(
    db: Database,
    model_id: str = "letters",
    spam: list[str] = SPAM,
    lessons: list[tuple[str, bool]] | None = None,
) -> tuple[SemanticSpamClassifier, ComplaintClassifier]:
    """What the bot's start-up does with both models (bot/app.py)."""
    store = FitCacheRepository(db)
    embeddings = EmbeddingService(Letters(model_id))
    spam_model = SemanticSpamClassifier(embeddings, fits=store)
    complaints = ComplaintClassifier(embeddings, fits=store)
    await spam_model.train(spam, HAM, lessons or [])
    await complaints.train(COMPLAINTS, OTHER)
    assert spam_model.ready and complaints.ready and spam_model.fusion is not None
    return spam_model, complaints


async def verdicts(spam_model: SemanticSpamClassifier, complaints: ComplaintClassifier) -> list:
    found: list[object] = []
    for text in PROBES:
        found += [await spam_model.evidence(text), await complaints.classify(text)]
    return found


async def test_a_restart_with_the_same_data_loads_the_fits_and_decides_bit_for_bit_alike(
    db, monkeypatch
):
    counted = Fits(monkeypatch)
    fresh = await start(db)
    assert counted.fusions == 1 and counted.regressions > 2  # folds, stacker, both models
    assert await FitCacheRepository(db).kinds() == {
        "spam:regression": 1,
        "spam:fusion": 1,
        "complaint:regression": 1,
    }

    counted.new_process()
    loaded = await start(db)
    assert counted.total == 0
    assert loaded[0].reused == ["regression", "fusion"] and loaded[1].reused == ["regression"]
    assert await verdicts(*loaded) == await verdicts(*fresh)  # floats compared exactly
    for a, b in ((fresh[0].model, loaded[0].model), (fresh[1].model, loaded[1].model)):
        assert a.regression.coef is not None and b.regression.coef is not None
        assert a.regression.coef.dtype == b.regression.coef.dtype == np.float32
        assert np.array_equal(a.regression.coef, b.regression.coef)
        assert a.regression.intercept == b.regression.intercept
    fused, stored = fresh[0].fusion, loaded[0].fusion
    assert fused is not None and stored is not None
    assert fused.names == stored.names and np.array_equal(fused.coef, stored.coef)
    assert fused.intercept == stored.intercept and fused.thresholds == stored.thresholds


async def test_changed_samples_a_lesson_or_another_embedding_model_fit_again_once(db, monkeypatch):
    counted = Fits(monkeypatch)
    await start(db)
    for changed in (
        {"spam": [*SPAM, "Win a free phone, click here"]},
        {"lessons": [("Закладки по городу быстро", True)]},
        {"model_id": "letters-v2"},
    ):
        counted.new_process()
        spam_model, _ = await start(db, **changed)
        assert counted.fusions == 1, changed
        assert "fusion" not in spam_model.reused
        counted.new_process()
        again = await start(db, **changed)
        assert counted.total == 0, changed
        assert again[0].reused == ["regression", "fusion"]
    # four training sets of the spam model were stored: only the newest KEEP stay
    kinds = await FitCacheRepository(db).kinds()
    assert kinds["spam:fusion"] == kinds["spam:regression"] == KEEP
    assert kinds["complaint:regression"] == 2  # samples and lessons of spam are not its own


async def test_lessons_taught_while_running_store_nothing(db, monkeypatch):
    """Every /spam, /notspam and Undo refits in memory; no start asks for those fits."""
    Fits(monkeypatch)
    spam_model, complaints = await start(db)
    before = await db.fetchall("SELECT id, kind, digest FROM fit_cache ORDER BY id")
    for text in ("Закладки по городу быстро", "Bitcoin signalen gratis"):
        await spam_model.learn(text, True)
        await spam_model.learn(text, False)
        await complaints.learn(text, False)
    assert await db.fetchall("SELECT id, kind, digest FROM fit_cache ORDER BY id") == before


def wrong_shape() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, coef=np.zeros(3, dtype=np.float32), intercept=np.array(0.0))
    return buffer.getvalue()


async def test_a_broken_row_costs_one_refit_and_one_log_line_never_the_start(
    db, monkeypatch, caplog
):
    counted = Fits(monkeypatch)
    fresh = await start(db)
    good = await db.fetchone("SELECT data FROM fit_cache WHERE kind='spam:fusion'")
    broken = {
        "spam:fusion": bytes(good[0])[:-7],  # truncated
        "spam:regression": b"\x00not a zip",
        "complaint:regression": wrong_shape(),
    }
    for kind, data in broken.items():
        await db.execute("UPDATE fit_cache SET data=? WHERE kind=?", (data, kind))

    counted.new_process()
    caplog.set_level(logging.WARNING, logger="bot.moderation.fits")
    refitted = await start(db)
    assert counted.fusions == 1 and counted.regressions > 2
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.moderation.fits"]
    assert len(lines) == 3 and all("fitting again" in line for line in lines)
    assert {line.split()[1] for line in lines} == set(broken)
    assert await verdicts(*refitted) == await verdicts(*fresh)

    counted.new_process()  # the refit was stored over the broken rows
    await start(db)
    assert counted.total == 0


async def test_an_unreadable_store_is_fitted_around(db, monkeypatch, caplog):
    """The database failing (a dropped connection, a missing table) is the same: a refit."""

    class Failing(FitCacheRepository):
        async def load(self, kind: str, digest: str) -> bytes | None:
            raise OSError("connection lost")

        async def store(self, kind: str, digest: str, data: bytes) -> None:
            raise OSError("connection lost")

    counted = Fits(monkeypatch)
    caplog.set_level(logging.WARNING, logger="bot.moderation.fits")
    classifier = SemanticSpamClassifier(EmbeddingService(Letters()), fits=Failing(db))
    await classifier.train(SPAM, HAM)
    assert classifier.ready and classifier.fusion is not None and counted.fusions == 1
    assert len([r for r in caplog.records if r.name == "bot.moderation.fits"]) == 4


async def test_the_repository_keeps_the_newest_few_of_each_kind(db):
    store = FitCacheRepository(db, keep=2)
    for n in range(4):
        await store.store("a", f"d{n}", bytes([n]))
    await store.store("b", "d0", b"b")
    await store.store("a", "d2", b"again")  # stored again: the newest now
    await store.store("a", "d4", b"4")
    assert [await store.load("a", f"d{n}") for n in range(5)] == [None, None, b"again", None, b"4"]
    assert await store.load("b", "d0") == b"b"
    assert await store.kinds() == {"a": 2, "b": 1}


def test_the_digest_sees_every_part_whole():
    """Arrays by contents (their repr elides), strings without separators to collide on."""
    big = np.zeros(5000, dtype=np.float32)
    changed = big.copy()
    changed[2500] = 1e-7
    assert fits.fit_digest(big) != fits.fit_digest(changed)
    assert fits.fit_digest(big) != fits.fit_digest(big.astype(np.float64))
    assert fits.fit_digest(["ab", "c"]) != fits.fit_digest(["a", "bc"])
    assert fits.fit_digest({"en": big}) != fits.fit_digest({"nl": big})
    assert fits.fit_digest(None) != fits.fit_digest("None")


def test_a_changed_format_or_fitting_code_misses(monkeypatch):
    before = fits.fit_digest("x")
    monkeypatch.setattr(fits, "FIT_FORMAT", fits.FIT_FORMAT + 1)
    assert fits.fit_digest("x") != before
    monkeypatch.undo()
    monkeypatch.setattr(fits, "_code_digest", lambda: b"other code")
    assert fits.fit_digest("x") != before


@pytest.mark.usefixtures("db_engine")
async def test_the_bot_restarts_with_the_fits_its_previous_start_stored(
    steward, monkeypatch, caplog
):
    """The real start-up, shipped samples and all: the first start on a new database takes
    the fits shipped with the package (nothing fitted, nothing stored), and so does the second;
    both models are ready before it ends (no "still training")."""
    app = steward.app
    for training in (app.semantic_training, app.reputation_training):
        if training is not None:  # the first start may leave them running on a busy machine
            await training
    assert app.moderation.semantic.reused == ["regression", "fusion"]
    assert await FitCacheRepository(app.db).kinds() == {}
    counted = Fits(monkeypatch)
    caplog.set_level(logging.INFO, logger="bot.app")
    app = await steward.restart()
    assert counted.total == 0
    assert not [r for r in caplog.records if "still training" in r.getMessage()]
    assert app.semantic_training is not None and app.semantic_training.done()
    assert app.reputation_training is not None and app.reputation_training.done()
    assert app.moderation.semantic.reused == ["regression", "fusion"]
    assert app.reputation.classifier.reused == ["regression"]
    assert app.moderation.semantic.fusion is not None and app.reputation.classifier.ready


async def test_a_first_start_on_a_new_database_fits_nothing_the_package_ships(db, monkeypatch):
    """The shipped samples' fits come with the package (scripts/ship_fits.py): a new database
    starts with the whole spam model, fusion included, instead of fitting it after polling
    began. Fails when a sample, its vector or the fitting code changed without a new file."""
    from bot.moderation.fits import LayeredFits, ShippedFits
    from bot.moderation.spam import default_samples
    from bot.reputation.classifier import shipped_examples
    from bot.semantic.embeddings import create_embedding_service

    embeddings = create_embedding_service("builtin")
    assert embeddings is not None
    counted = Fits(monkeypatch)
    store = FitCacheRepository(db)
    layered = LayeredFits(store, ShippedFits.packaged())
    spam_model = SemanticSpamClassifier(embeddings, fits=layered)
    await spam_model.train(default_samples("spam"), default_samples("ham"))
    complaints = ComplaintClassifier(embeddings, fits=layered)
    await complaints.train(*shipped_examples())
    stale = "stale: run scripts/ship_fits.py"
    assert spam_model.reused == ["regression", "fusion"], stale
    assert complaints.reused == ["regression"], stale
    assert counted.total == 0 and spam_model.fusion is not None
    assert await store.kinds() == {}  # nothing copied into the database
