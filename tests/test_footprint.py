"""What the bot holds in memory and imports at start: the cheaper forms give the same answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.moderation import language

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "Does anyone know when the next release is planned for the community?",
    "Доброе утро! Кто идёт на встречу в субботу вечером?",
    "Hoi allemaal, wie komt er vanavond ook naar de bijeenkomst?",
    "Das ist ein ganz normaler deutscher Satz über das Wetter heute",
    "C'est une phrase tout à fait normale en français sur la météo",
    "Esta es una frase normal en español sobre el tiempo de hoy",
    "ok",
    "1234 5678",
    "Xin chào các bạn, hôm nay trời đẹp quá, đi cà phê không?",
    "ВНИМАНИЕ!!! Заработок от 5000 в день, пиши в ЛС https://t.me/example",
    "Gratis iPhone 15 voor de eerste 100 mensen, klik op www.example.com nu!",
    "Ελληνικά και English μαζί σε ένα μήνυμα για δοκιμή",
]
# and the shipped samples' first lines: a few hundred real-looking messages in the bot's languages
SAMPLES = ROOT / "bot" / "moderation" / "data"
for name in ("ham_en", "ham_nl", "ham_ru", "spam_en", "spam_nl", "spam_ru"):
    lines = (SAMPLES / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    TEXTS += [line for line in lines if line.strip() and not line.startswith("#")][:40]


def test_packed_profiles_give_langdetects_own_probabilities():
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    from langdetect.lang_detect_exception import LangDetectException

    reference = DetectorFactory()
    reference.load_profile(PROFILES_DIRECTORY)
    reference.set_seed(0)
    for text in TEXTS:
        try:
            detector = reference.create()
            detector.append(text)
            expected = tuple((r.lang, r.prob) for r in detector.get_probabilities())
        except LangDetectException:
            expected = ()
        assert language.probabilities(text) == expected, text
    assert language.ranked_languages(TEXTS[2], {"nl", "en"})[0][0] == "nl"
    assert language.foreign_language(TEXTS[1], ("en", "nl")) == "ru"


def test_charts_library_is_not_loaded_until_a_chart_is_drawn():
    code = (
        "import sys, bot.app\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported at start'\n"
        "from bot.stats import charts\n"
        "charts.warm_up()\n"
        "assert 'matplotlib.pyplot' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_aiogram_types_are_built_on_first_use_and_every_one_can_be():
    code = (
        "import bot, aiogram.types as t\n"
        "assert not t.Sticker.__pydantic_complete__, 'built at import'\n"
        "s = t.Sticker.model_validate({'file_id': 'a', 'file_unique_id': 'b', 'type': 'regular',"
        " 'width': 1, 'height': 1, 'is_animated': False, 'is_video': False})\n"
        "assert s.width == 1 and t.Sticker.__pydantic_complete__\n"
        "from bot.lean_types import build_common_types\n"
        "build_common_types()\n"
        "assert t.Update.__pydantic_complete__ and t.Message.__pydantic_complete__\n"
        "import aiogram.methods as m\n"
        "assert m.SendMessage(chat_id=1, text='x').text == 'x'\n"
        "for module in (t, m):\n"
        "  for name in module.__all__:\n"
        "    model = getattr(module, name)\n"
        "    if hasattr(model, 'model_rebuild') and model.__module__ != 'aiogram.methods.base':\n"
        "        assert model.model_rebuild() is not False, name\n"
        "        assert model.__pydantic_complete__, name\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
