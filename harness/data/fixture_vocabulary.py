"""Words, title templates, authors and category styles of the generated fixture catalogue.

Titles are built from per-category vocabularies plus a shared one, so held-out books are new
combinations of words seen in training. Every vocabulary word owns a distinct visual signature
(two colours and a coarse pattern) that the covers draw beside the title text: a small CLIP can
learn word -> signature and generalise to new titles.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

FIXTURE_FINETUNE_CATEGORY = "Mind-Body-Spirit"

CATEGORY_WORDS: Mapping[str, tuple[str, ...]] = {
    "Mind-Body-Spirit": (
        "Mindful",
        "Soul",
        "Spirit",
        "Chakra",
        "Karma",
        "Aura",
        "Crystal",
        "Tarot",
        "Moon",
        "Meditation",
        "Breath",
        "Zen",
        "Angel",
        "Intuition",
        "Dream",
        "Lotus",
        "Mantra",
        "Ritual",
        "Oracle",
        "Awakening",
        "Silence",
        "Stillness",
        "Sacred",
        "Cosmic",
        "Yoga",
        "Prayer",
        "Wisdom",
        "Presence",
        "Energy",
        "Healing",
        "Serenity",
        "Light",
        "Manifest",
        "Gratitude",
        "Tao",
        "Witch",
    ),
    "Medical": (
        "Anatomy",
        "Surgery",
        "Clinical",
        "Cardiology",
        "Nursing",
        "Pathology",
        "Diagnosis",
        "Pharmacology",
        "Neurology",
        "Oncology",
        "Physiology",
        "Radiology",
        "Emergency",
        "Patient",
        "Medicine",
        "Hospital",
        "Trauma",
        "Immunology",
        "Paediatric",
        "Surgeon",
        "Infection",
        "Lung",
        "Heart",
        "Blood",
        "Cell",
        "Genetics",
        "Virus",
        "Doctor",
        "Ward",
        "Bedside",
        "Dosage",
        "Scalpel",
        "Symptom",
        "Vaccine",
        "Clinic",
        "Pulse",
    ),
    "Health": (
        "Fitness",
        "Diet",
        "Nutrition",
        "Sleep",
        "Strength",
        "Weight",
        "Running",
        "Vitality",
        "Wellness",
        "Muscle",
        "Stress",
        "Habit",
        "Body",
        "Longevity",
        "Gut",
        "Hormone",
        "Protein",
        "Workout",
        "Stretch",
        "Posture",
        "Metabolism",
        "Detox",
        "Hydration",
        "Calm",
        "Immunity",
        "Recovery",
        "Balance",
        "Brain",
        "Ageing",
        "Fasting",
        "Walking",
        "Vitamin",
        "Sugar",
        "Skin",
        "Stamina",
        "Resilience",
    ),
    "Biography": (
        "Memoir",
        "Lifetime",
        "Years",
        "Childhood",
        "Queen",
        "King",
        "President",
        "Soldier",
        "Letters",
        "Diary",
        "Rebel",
        "Legend",
        "Hero",
        "Journey",
        "Family",
        "Father",
        "Mother",
        "Daughter",
        "Son",
        "Exile",
        "Empire",
        "Champion",
        "Artist",
        "Poet",
        "Revolution",
        "Voice",
        "Portrait",
        "Genius",
        "Outsider",
        "Icon",
        "Memory",
        "Legacy",
        "Pioneer",
        "Witness",
        "Freedom",
        "Survivor",
    ),
    "Science-Fiction-Fantasy-Horror": (
        "Dragon",
        "Galaxy",
        "Starship",
        "Robot",
        "Planet",
        "Ghost",
        "Vampire",
        "Wizard",
        "Sword",
        "Throne",
        "Shadow",
        "Alien",
        "Android",
        "Kingdom",
        "Curse",
        "Nightmare",
        "Horror",
        "Quest",
        "Void",
        "Orbit",
        "Cyborg",
        "Mars",
        "Titan",
        "Blade",
        "Crown",
        "Demon",
        "Haunting",
        "Beast",
        "Portal",
        "Spell",
        "Storm",
        "Zombie",
        "Nebula",
        "Phoenix",
        "Relic",
        "Sorcerer",
    ),
    "Cookery": (
        "Kitchen",
        "Bread",
        "Baking",
        "Soup",
        "Pasta",
        "Salad",
        "Spice",
        "Curry",
        "Feast",
        "Supper",
        "Recipes",
        "Cake",
        "Chocolate",
        "Vegan",
        "Grill",
        "Noodle",
        "Dumpling",
        "Butter",
        "Garden",
        "Harvest",
        "Pantry",
        "Crème",
        "Café",
        "Pâtisserie",
        "Jalapeño",
        "Sauce",
        "Roast",
        "Tart",
        "Pie",
        "Cheese",
        "Olive",
        "Lemon",
        "Herb",
        "Fish",
        "Rice",
        "Brunch",
    ),
}
SHARED_WORDS: tuple[str, ...] = (
    "Power",
    "Secret",
    "World",
    "Art",
    "Story",
    "Way",
    "Lessons",
    "Complete",
    "Little",
    "New",
    "Modern",
    "Essential",
    "Everyday",
    "Hidden",
    "Simple",
    "Path",
)
FIXTURE_CATEGORIES: tuple[str, ...] = tuple(CATEGORY_WORDS)
NON_ASCII_WORD = "Crème"  # at least one title carries it, like the real catalogue's accented titles

# {n} slots take vocabulary words; the fixed words are function words without a signature.
TITLE_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("The {0} of {1}", 3.0),
    ("{0} and {1}", 2.0),
    ("A Guide to {0} {1}", 1.5),
    ("The {0} {1}", 2.0),
    ("{0} of the {1}", 1.0),
    ("{0} {1}", 1.0),
    ("The {0} {1} of {2}", 2.0),
    ("{0}, {1} and {2}", 1.5),
    ("The {0} of {1} and {2}", 1.5),
    ("{0} {1}: A Guide to {2}", 1.0),
    ("The {0} {1} of {2} and {3}", 1.0),
    ("{0} {1}: The {2} of {3}", 0.8),
)
SHARED_WORD_PROBABILITY = 0.25

FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farah",
    "George",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Marco",
    "Nadia",
    "Oscar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zara",
    "Aoife",
    "Bruno",
    "Cora",
    "Dmitri",
)
LAST_NAMES = (
    "Adams",
    "Bauer",
    "Castillo",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Khan",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quint",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Walsh",
    "Xu",
    "Yilmaz",
    "Zimmer",
    "Byrne",
    "Costa",
    "Novak",
    "Oduya",
)
FORMATS = ("Paperback", "Hardback", "Board book", "Spiral bound")

# Tile colours: far apart in RGB so they survive JPEG and downscaling to 64 px.
SIGNATURE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (245, 130, 48),
    (255, 225, 25),
    (60, 180, 75),
    (70, 240, 240),
    (0, 90, 200),
    (145, 30, 180),
    (240, 50, 230),
    (25, 25, 25),
    (250, 250, 250),
    (128, 128, 0),
    (140, 80, 30),
)
SIGNATURE_PATTERNS: tuple[str, ...] = (
    "left-right",
    "top-bottom",
    "frame",
    "diagonal",
    "checker",
    "h-stripes",
    "v-stripes",
)


@dataclass(frozen=True)
class WordSignature:
    """The tile a vocabulary word draws on a cover."""

    first: tuple[int, int, int]
    second: tuple[int, int, int]
    pattern: str


@dataclass(frozen=True)
class CategoryStyle:
    """Background colour, motif and author ink of a category's covers."""

    background: tuple[int, int, int]
    accent: tuple[int, int, int]
    ink: tuple[int, int, int]
    motif: str


CATEGORY_STYLES: Mapping[str, CategoryStyle] = {
    "Mind-Body-Spirit": CategoryStyle((92, 52, 140), (200, 170, 240), (245, 235, 255), "circles"),
    "Medical": CategoryStyle((205, 225, 240), (200, 30, 40), (20, 40, 80), "crosses"),
    "Health": CategoryStyle((70, 150, 80), (190, 235, 150), (250, 255, 240), "leaves"),
    "Biography": CategoryStyle((150, 135, 115), (70, 55, 45), (250, 245, 235), "portrait"),
    "Science-Fiction-Fantasy-Horror": CategoryStyle((15, 20, 45), (240, 240, 160), (220, 230, 255), "stars"),
    "Cookery": CategoryStyle((215, 90, 40), (255, 225, 190), (45, 15, 5), "gingham"),
}
MOTIFS = ("circles", "crosses", "leaves", "portrait", "stars", "gingham")


def all_words() -> tuple[str, ...]:
    """Every vocabulary word, shared first, then each category's in order."""
    words = list(SHARED_WORDS)
    for category in FIXTURE_CATEGORIES:
        words.extend(CATEGORY_WORDS[category])
    return tuple(words)


def word_signatures() -> dict[str, WordSignature]:
    """Case-folded word -> its signature; distinct for every word, independent of any seed."""
    combos = [
        (a, b, p)
        for a in range(len(SIGNATURE_COLOURS))
        for b in range(len(SIGNATURE_COLOURS))
        if a != b
        for p in range(len(SIGNATURE_PATTERNS))
    ]
    random.Random("bookclip-fixture-signatures-v1").shuffle(combos)
    return {
        word.casefold(): WordSignature(SIGNATURE_COLOURS[a], SIGNATURE_COLOURS[b], SIGNATURE_PATTERNS[p])
        for word, (a, b, p) in zip(all_words(), combos, strict=False)
    }  # more combinations than words


_WORD = re.compile(r"\w+")


def signature_words(title: str, signatures: Mapping[str, WordSignature]) -> list[WordSignature]:
    """Signatures of the vocabulary words in `title`, in title order (other words have none)."""
    return [signatures[w] for w in (m.group(0).casefold() for m in _WORD.finditer(title)) if w in signatures]


def category_style(category: str) -> CategoryStyle:
    """A category's style; categories outside the fixture get one derived from their name."""
    if category in CATEGORY_STYLES:
        return CATEGORY_STYLES[category]
    rng = random.Random(f"bookclip-category-style:{category}")
    background = tuple(rng.randrange(30, 225) for _ in range(3))
    light = sum(background) > 384
    return CategoryStyle(
        background,  # type: ignore[arg-type]
        tuple(255 - c for c in background),  # type: ignore[arg-type]
        (20, 20, 20) if light else (245, 245, 245),
        rng.choice(MOTIFS),
    )
