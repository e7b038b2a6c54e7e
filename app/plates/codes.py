"""A facility's plate code: eight characters, derived from its id, printed on its plate.

``/f/{code}`` is the short URL its QR code holds. The code is the id scrambled by an
invertible affine map modulo 31⁷ and written in 31 unambiguous characters (no 0/O, 1/I/L),
with a check character last, so it is:

- **stable** — it follows the facility's id, which never changes (renumbering the facility's
  ``code``, moving it to another township or county leaves the plate valid), and needs no
  column, no migration and no backfill;
- **short** — 8 characters, ``https://host/f/K7Q2M9XD``, a small QR code on a small plate;
- **checked** — a mistyped or misread code (one wrong character, two swapped) is refused
  rather than naming another site;
- not sequential to look at. It is not a secret: what a plate opens for a stranger is
  the public page, which shows only what the public map already shows.

A reprinted plate carries the same code. Ids are kept by backup and restore, so plates
stay valid across them.
"""

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BASE = len(ALPHABET)  # 31, a prime
DIGITS = 7
MODULUS = BASE**DIGITS  # 27,512,614,111 ids
_MULTIPLIER = 9_876_543_211  # coprime to 31, so the map is a bijection
_OFFSET = 3_141_592_653
_INVERSE = pow(_MULTIPLIER, -1, MODULUS)
LENGTH = DIGITS + 1
MAX_ID = 2**31 - 1
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


def _check(digits: list[int]) -> int:
    # position-weighted: catches any one wrong character and any two swapped neighbours
    return sum((i + 1) * d for i, d in enumerate(digits)) % BASE


def encode(facility_id: int) -> str:
    if not 0 < facility_id < MODULUS:
        raise ValueError(f"facility id {facility_id} out of the plate codes' range")
    n = (facility_id * _MULTIPLIER + _OFFSET) % MODULUS
    digits = []
    for _ in range(DIGITS):
        n, d = divmod(n, BASE)
        digits.append(d)
    digits.reverse()
    return "".join(ALPHABET[d] for d in digits) + ALPHABET[_check(digits)]


def decode(code: str) -> int | None:
    """The facility id a code names, or ``None`` for anything that is not a valid code
    (case and surrounding blanks ignored)."""
    text = code.strip().upper()
    if len(text) != LENGTH or any(ch not in _VALUE for ch in text):
        return None
    digits = [_VALUE[ch] for ch in text[:DIGITS]]
    if _VALUE[text[-1]] != _check(digits):
        return None
    n = 0
    for d in digits:
        n = n * BASE + d
    facility_id = ((n - _OFFSET) * _INVERSE) % MODULUS
    # ids are 32-bit integers in the database (PostgreSQL's ``integer``): a larger one names
    # nothing, and must not reach a query that would fail on it
    return facility_id if 0 < facility_id <= MAX_ID else None
