"""Two apps whose verbose names and choices are translated: lazily, and eagerly at import time.

Their migrations hold the English strings, as `makemigrations` writes them
(it deactivates translations first). The msgids are ones Django ships German
translations for, so LANGUAGE_CODE = "de" changes what they evaluate to.
"""
