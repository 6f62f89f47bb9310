"""FAQ groundwork: question detection and the offline matcher's decision rule."""

from __future__ import annotations

from bot.faq.matcher import FaqIndex, features
from bot.faq.questions import looks_like_question


def test_question_detection():
    assert looks_like_question("What are your opening hours?")
    assert looks_like_question("Как отменить подписку")  # interrogative first word
    assert looks_like_question("hoe laat gaan jullie open")
    assert not looks_like_question("thanks a lot")
    assert not looks_like_question("ok?")  # fewer than three words
    assert not looks_like_question("/faq opening hours?")
    assert not looks_like_question("nice photo everyone")
    # an interrogative after a lead-in word, without a question mark
    assert looks_like_question("at what time does the meetup start")
    assert looks_like_question("Во сколько начинается встреча")
    assert looks_like_question("А где можно забрать заказ")
    assert looks_like_question("какую карту лучше взять для оплаты")
    assert looks_like_question("om hoe laat gaan jullie open")
    assert not looks_like_question("at the meetup tomorrow everyone")
    assert not looks_like_question("а мы завтра идём")
    # exclamations, and statements whose subject chat left out, open like questions
    assert not looks_like_question("Can't wait for Saturday! 🎉")
    assert not looks_like_question("what a goal that was")
    assert not looks_like_question("Wat een sneeuw vannacht")
    assert not looks_like_question("will be there at nine")
    assert not looks_like_question("kan niet wachten op zaterdag")
    assert looks_like_question("Hey! does anyone know the wifi password")
    assert looks_like_question("can't I bring my dog?")
    assert looks_like_question("Kan ik mijn kaartje ruilen")
    assert not looks_like_question("How cool is that!")
    assert not looks_like_question("Какая игра была вчера!")
    assert looks_like_question("Where is my order!!")  # impatient, still a question
    assert looks_like_question("Can someone help me with my order!")
    # "how" before a judging word exclaims; before a measuring one it asks
    assert not looks_like_question("how cool is it that the parcel came before lunch")
    assert not looks_like_question("hoe leuk is het dat het pakket er al is")
    assert not looks_like_question("как круто что посылка пришла")
    assert looks_like_question("how long is the delivery")
    assert looks_like_question("how nice is the new version?")  # a question mark asks


def test_features_fold_case_lookalikes_and_stopwords():
    assert features("The WIFI password") == features("the WIFI pаsswоrd")  # Cyrillic а, о
    assert not any(f == "w:the" for f in features("the the the"))


def test_answers_paraphrase_and_stays_silent_on_chitchat():
    index = FaqIndex.build(
        [
            (1, "What is the wifi password?"),
            (1, "How do I connect to the wifi?"),
            (2, "How do I cancel my subscription?"),
            (2, "How can I stop my membership?"),
            (3, "Is there parking near the building?"),
        ]
    )
    decision, match = index.decide("which password does the wifi use")
    assert (decision, match.entry_id) == ("answer", 1)
    decision, match = index.decide("I want to cancel the subscription")
    assert (decision, match.entry_id) == ("answer", 2)
    assert index.decide("who watched the football match yesterday")[0] == "none"


def test_close_runner_up_is_not_answered():
    index = FaqIndex.build([(1, "card payment failed"), (2, "card payment refund")])
    decision, match = index.decide("card payment")
    assert decision != "answer" and match.score - match.runner_up < index.margin


PHRASINGS = [
    (7, "What is the wifi password?"),
    (3, "How do I cancel my subscription?"),
    (7, "How do I connect to the wifi?"),  # an entry's wordings need not be side by side
    (3, "How can I stop my membership?"),
    (9, "Is there parking near the building?"),
]
QUESTIONS = [
    "which password does the wifi use",
    "I want to cancel the subscription",
    "where can I park",
    "who watched the football match yesterday",
]


def test_an_entrys_score_is_its_best_wording_whatever_the_order():
    index = FaqIndex.build(PHRASINGS)
    ranked = index.ranked("connect to the wifi", None)
    assert ranked[0][0] == 7 and ranked[0][1] > 0.5
    assert index.scores("connect to the wifi")[7] == ranked[0][1]
    assert index.ranked("zzzz qqqq", None) == []


def test_a_stored_index_loads_back_with_the_same_scores():
    index = FaqIndex.build(PHRASINGS, threshold=0.4, margin=0.05)
    loaded = FaqIndex.from_bytes(index.to_bytes())
    assert loaded is not None and len(loaded) == len(index) == 5
    assert (loaded.threshold, loaded.margin) == (0.4, 0.05)
    for question in QUESTIONS:
        assert loaded.ranked(question, None) == index.ranked(question, None)
        assert loaded.decide(question) == index.decide(question)
    empty = FaqIndex.from_bytes(FaqIndex.build([]).to_bytes())
    assert empty is not None and empty.decide("anything at all?") == ("none", None)
    assert FaqIndex.from_bytes(b"not an index") is None


def test_ranking_among_visible_entries_keeps_order_and_ties():
    import numpy as np

    index = FaqIndex.build(
        [
            (1, "wifi password please"),
            (2, "wifi password please"),  # the same words: a tie, kept in index order
            (3, "wifi network name"),
            (4, "cancel my subscription"),
        ]
    )
    question = "what is the wifi password"
    everything = index.ranked(question, limit=None)
    for mask in ([True, True, True, True], [False, True, True, True], [True, False, False, True]):
        visible = np.array([mask[index.entry_ids.index(e)] for e in index.entry_ids])
        wanted = [(e, s) for e, s in everything if mask[e - 1]]
        assert index.ranked(question, limit=None, visible=visible) == wanted
        assert index.ranked(question, limit=2, visible=visible) == wanted[:2]
